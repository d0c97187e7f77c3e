import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { LookupFn } from '../../agent/requests/destination.js';
import { validateRequest, type ValidationContext } from '../../agent/requests/request-schema.js';

const NOW = Date.parse('2026-11-22T15:00:00.000Z');
const URL_TEXT = 'https://evidence.example/put/abc?X-Sig=xyz';
const KEY_ID = '0123456789abcdef';

function baseRequest(): Record<string, any> {
  return {
    v: 2,
    id: `${KEY_ID}.rfa-2026-0042`,
    requester: { name: 'Springfield PD', kind: 'police', contact: 'records@spd.example', caseNumber: '24-118' },
    reason: 'Package theft on Elm St',
    window: { from: '2026-11-22T14:00:00.000Z', to: '2026-11-22T14:30:00.000Z' },
    area: { lat: 39.7817, lon: -89.6501, radiusM: 400 },
    upload: { url: URL_TEXT, expiresAt: '2026-11-29T00:00:00.000Z' },
    replyTo: `requesters/${KEY_ID}/receipts`,
    expiresAt: '2026-11-25T00:00:00.000Z',
  };
}

const publicLookup: LookupFn = async () => [{ address: '93.184.216.34', family: 4 }];

function context(overrides: Partial<ValidationContext> = {}): ValidationContext {
  return {
    now: NOW,
    topic: 'direct',
    deviceLocation: { lat: 39.7820, lon: -89.6500 },
    limits: { maxWindowHours: 24, maxPendingPerRequester: 3, maxPending: 20, maxPendingUnknown: 5, allowInsecureUploads: false, allowPrivateDestinations: false },
    policy: { all: false, kinds: [], withoutCaseNumber: false },
    keyId: KEY_ID,
    trusted: false,
    deviceBase: 'doorbell/frontdoor',
    pendingFor: () => 0,
    pendingUnknown: () => 0,
    pendingTotal: () => 0,
    lookup: publicLookup,
    ...overrides,
  };
}

async function reasonFor(edit: (r: Record<string, any>) => void, ctx: ValidationContext = context()): Promise<string> {
  const request = baseRequest();
  edit(request);
  const result = await validateRequest(Buffer.from(JSON.stringify(request)), ctx);
  if (result.ok) throw new Error('the request was accepted');
  expect(result.detail).not.toBe('');
  return result.reason;
}

async function accepted(edit: (r: Record<string, any>) => void, ctx: ValidationContext = context()): Promise<boolean> {
  const request = baseRequest();
  edit(request);
  return (await validateRequest(Buffer.from(JSON.stringify(request)), ctx)).ok;
}

const unchanged = (): void => undefined;

describe('validateRequest', () => {
  it('accepts a valid request, ignoring unknown fields', async () => {
    const raw = Buffer.from(JSON.stringify({ ...baseRequest(), extra: { anything: true } }));
    const result = await validateRequest(raw, context());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.request.id).toBe(`${KEY_ID}.rfa-2026-0042`);
    expect(result.request).not.toHaveProperty('extra');
    expect(result.urlSha256).toBe(createHash('sha256').update(URL_TEXT).digest('hex'));
    expect(result.destination.host).toBe('evidence.example');
    expect(result.destination.addresses).toEqual([{ address: '93.184.216.34', family: 4 }]);
  });

  it('accepts a request without the optional fields', async () => {
    const request = baseRequest();
    delete request.area;
    delete request.replyTo;
    delete request.requester.contact;
    delete request.requester.caseNumber;
    expect((await validateRequest(Buffer.from(JSON.stringify(request)), context())).ok).toBe(true);
  });

  describe('refuses the payload', () => {
    it('over 64 KiB', async () => {
      expect(await reasonFor((r) => (r.reason = 'x'.repeat(64 * 1024)))).toBe('too-large');
    });

    it('that is not UTF-8', async () => {
      const raw = Buffer.concat([Buffer.from('{"v":1,"reason":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
      expect(await validateRequest(raw, context())).toMatchObject({ ok: false, reason: 'not-utf8' });
    });

    it('that is not a JSON object', async () => {
      expect(await validateRequest(Buffer.from('{"v":1,'), context())).toMatchObject({ ok: false, reason: 'not-json' });
      expect(await validateRequest(Buffer.from('[1]'), context())).toMatchObject({ ok: false, reason: 'not-object' });
      expect(await validateRequest(Buffer.from('null'), context())).toMatchObject({ ok: false, reason: 'not-object' });
    });

    it('of another version, naming the request when it can', async () => {
      const request = { ...baseRequest(), v: 1 };
      expect(await validateRequest(Buffer.from(JSON.stringify(request)), context())).toMatchObject({
        ok: false,
        reason: 'bad-version',
        requestId: `${KEY_ID}.rfa-2026-0042`,
        requesterName: 'Springfield PD',
      });
    });
  });

  describe('refuses schema violations', () => {
    it.each<[string, (r: Record<string, any>) => void]>([
      ['a missing requester.kind', (r) => delete r.requester.kind],
      ['an unknown requester.kind', (r) => (r.requester.kind = 'mayor')],
      ['an empty requester name', (r) => (r.requester.name = '')],
      ['an id with a space', (r) => (r.id = 'rfa 42')],
      ['an id over 64 characters', (r) => (r.id = 'a'.repeat(65))],
      ['a time without milliseconds', (r) => (r.window.from = '2026-11-22T14:00:00Z')],
      ['a time with an offset', (r) => (r.expiresAt = '2026-11-25T01:00:00.000+01:00')],
      ['a date that does not exist', (r) => (r.expiresAt = '2026-11-31T00:00:00.000Z')],
      ['a month that does not exist', (r) => (r.expiresAt = '2026-13-01T00:00:00.000Z')],
      ['a numeric time', (r) => (r.upload.expiresAt = 1795000000000)],
      ['a missing upload', (r) => delete r.upload],
      ['a radius of zero', (r) => (r.area.radiusM = 0)],
      ['a latitude out of range', (r) => (r.area.lat = 91)],
      ['a reason that is not a string', (r) => (r.reason = 42)],
    ])('%s', async (_what, edit) => {
      expect(await reasonFor(edit)).toBe('schema');
    });
  });

  // Each of these jammed the ordered outbox of protocol v1 or reached another system's topic.
  describe('refuses a replyTo outside requesters/{the signing keyId}', () => {
    it.each([
      ['a Zigbee2MQTT command', 'zigbee2mqtt/bridge/request/permit_join'],
      ['a Home Assistant discovery topic', 'homeassistant/binary_sensor/x/config'],
      ['a broker system topic', '$SYS/broker/clients'],
      ['another requester’s topic', 'requesters/fedcba9876543210/receipts'],
      ['a wildcard', `requesters/${KEY_ID}/#`],
      ['more than 100 levels', `requesters/${KEY_ID}/${Array.from({ length: 101 }, () => 'a').join('/')}`],
      ['a control character', `requesters/${KEY_ID}/re\u0001ceipts`],
      ['an empty level', `requesters/${KEY_ID}//receipts`],
      ['over 200 characters', `requesters/${KEY_ID}/${'a'.repeat(200)}`],
    ])('%s', async (_what, replyTo) => {
      expect(await reasonFor((r) => (r.replyTo = replyTo))).toBe('bad-reply-to');
    });

    it('accepts its own topic and levels below it', async () => {
      expect(await accepted((r) => (r.replyTo = `requesters/${KEY_ID}`))).toBe(true);
      expect(await accepted((r) => (r.replyTo = `requesters/${KEY_ID}/case-24.118/receipts`))).toBe(true);
    });
  });

  it('refuses an id outside the signing key’s namespace', async () => {
    expect(await reasonFor((r) => (r.id = 'rfa-2026-0042'))).toBe('id-not-in-namespace');
    expect(await reasonFor((r) => (r.id = 'fedcba9876543210.rfa-2026-0042'))).toBe('id-not-in-namespace');
  });

  it('refuses a direct request naming another device', async () => {
    expect(await reasonFor((r) => (r.to = 'doorbell/backdoor'))).toBe('wrong-device');
    expect(await accepted((r) => (r.to = 'doorbell/frontdoor'))).toBe(true);
  });

  it('gives unknown keys together only maxPendingUnknown, while a trusted key still fits', async () => {
    const full = { pendingUnknown: () => 5, pendingTotal: () => 5 };
    expect(await reasonFor(unchanged, context(full))).toBe('rate-limited');
    expect(await accepted(unchanged, context({ ...full, trusted: true }))).toBe(true);
  });

  describe('refuses bad times', () => {
    it('a window that ends before or when it starts', async () => {
      expect(await reasonFor((r) => (r.window.to = r.window.from))).toBe('window-order');
    });

    it('a window longer than maxWindowHours', async () => {
      expect(await reasonFor((r) => (r.window.from = '2026-11-21T14:29:59.999Z'))).toBe('window-too-long');
      const twoHours = context({ limits: { ...context().limits, maxWindowHours: 2 } });
      expect(await reasonFor((r) => (r.window.from = '2026-11-22T12:00:00.000Z'), twoHours)).toBe('window-too-long');
    });

    it('a window that starts in the future', async () => {
      expect(await reasonFor((r) => Object.assign(r.window, { from: '2026-11-22T15:00:00.001Z', to: '2026-11-22T16:00:00.000Z' }))).toBe('window-future');
    });

    it('an expiry in the past or more than 30 days ahead', async () => {
      expect(await reasonFor((r) => (r.expiresAt = '2026-11-22T14:59:59.999Z'))).toBe('expired');
      expect(await reasonFor((r) => (r.expiresAt = '2026-12-22T15:00:00.001Z'))).toBe('expires-too-late');
      expect(await accepted((r) => (r.expiresAt = '2026-12-22T15:00:00.000Z'))).toBe(true);
    });

    it('an upload URL that has already expired', async () => {
      expect(await reasonFor((r) => (r.upload.expiresAt = '2026-11-22T14:00:00.000Z'))).toBe('upload-expired');
    });
  });

  describe('refuses unsafe destinations', () => {
    it('http unless insecure uploads are allowed', async () => {
      expect(await reasonFor((r) => (r.upload.url = 'http://evidence.example/put'))).toBe('not-https');
      const insecure = context({ limits: { ...context().limits, allowInsecureUploads: true } });
      expect(await accepted((r) => (r.upload.url = 'http://evidence.example/put'), insecure)).toBe(true);
    });

    it('user-info', async () => {
      expect(await reasonFor((r) => (r.upload.url = 'https://me:pw@evidence.example/put'))).toBe('user-info');
    });

    it('a URL that is not one', async () => {
      expect(await reasonFor((r) => (r.upload.url = 'evidence.example/put'))).toBe('bad-url');
    });

    it('a host resolving to a private address, unless private destinations are allowed', async () => {
      const lan: LookupFn = async () => [{ address: '93.184.216.34', family: 4 }, { address: '192.168.1.1', family: 4 }];
      expect(await reasonFor(unchanged, context({ lookup: lan }))).toBe('private-address');
      expect(await reasonFor((r) => (r.upload.url = 'https://169.254.169.254/latest'))).toBe('private-address');
      const allowed = context({ lookup: lan, limits: { ...context().limits, allowPrivateDestinations: true } });
      expect(await accepted(unchanged, allowed)).toBe(true);
    });

    it('a host that does not resolve', async () => {
      const nxdomain: LookupFn = async () => {
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      };
      expect(await reasonFor(unchanged, context({ lookup: nxdomain }))).toBe('unresolvable');
    });
  });

  describe('on an area topic', () => {
    const area = (overrides: Partial<ValidationContext> = {}): ValidationContext => context({ topic: 'area', ...overrides });

    it('accepts a device inside the area', async () => {
      expect(await accepted(unchanged, area())).toBe(true);
    });

    it('requires an area', async () => {
      expect(await reasonFor((r) => delete r.area, area())).toBe('area-missing');
    });

    it('refuses a radius over 2000 m', async () => {
      expect(await reasonFor((r) => (r.area.radiusM = 2000.5), area())).toBe('area-too-large');
    });

    it('refuses when the device lies outside the area', async () => {
      // About 450 m north of the centre, outside a 400 m radius and inside a 500 m one.
      const device = { lat: 39.7817 + 450 / 111_195, lon: -89.6501 };
      expect(await reasonFor(unchanged, area({ deviceLocation: device }))).toBe('outside-area');
      expect(await accepted((r) => (r.area.radiusM = 500), area({ deviceLocation: device }))).toBe(true);
    });

    it('is ignored by a device without a configured location', async () => {
      const { deviceLocation: _, ...noLocation } = area();
      expect(await reasonFor(unchanged, noLocation)).toBe('no-location');
    });

    it('does not apply on the direct topic', async () => {
      const far = context({ deviceLocation: { lat: 0, lon: 0 } });
      expect(await accepted(unchanged, far)).toBe(true);
    });
  });

  describe('rate limits', () => {
    it('refuses a requester key with maxPendingPerRequester pending, whatever name it claims', async () => {
      const pendingFor = vi.fn((keyId: string) => (keyId === KEY_ID ? 3 : 0));
      expect(await reasonFor((r) => (r.requester.name = 'A brand new name'), context({ pendingFor }))).toBe('rate-limited');
      expect(pendingFor).toHaveBeenCalledWith(KEY_ID);
      expect(await accepted(unchanged, context({ pendingFor: () => 2 }))).toBe(true);
    });

    it('refuses when the device has maxPending pending in all', async () => {
      expect(await reasonFor(unchanged, context({ pendingTotal: () => 20 }))).toBe('rate-limited');
    });
  });

  describe('owner policy', () => {
    const policy = (p: Partial<ValidationContext['policy']>): ValidationContext => context({ policy: { all: false, kinds: [], withoutCaseNumber: false, ...p } });

    it('can deny everything', async () => {
      expect(await reasonFor(unchanged, policy({ all: true }))).toBe('policy');
    });

    it('can deny by requester kind', async () => {
      expect(await reasonFor(unchanged, policy({ kinds: ['police'] }))).toBe('policy');
      expect(await accepted(unchanged, policy({ kinds: ['insurer'] }))).toBe(true);
    });

    it('can deny requests without a case number', async () => {
      expect(await reasonFor((r) => delete r.requester.caseNumber, policy({ withoutCaseNumber: true }))).toBe('policy');
      expect(await accepted(unchanged, policy({ withoutCaseNumber: true }))).toBe(true);
    });
  });

  it('refuses on cheap rules before any DNS lookup', async () => {
    const lookup = vi.fn(publicLookup);
    expect(await reasonFor((r) => (r.window.to = r.window.from), context({ lookup }))).toBe('window-order');
    expect(await reasonFor(unchanged, context({ lookup, policy: { all: true, kinds: [], withoutCaseNumber: false } }))).toBe('policy');
    expect(await reasonFor(unchanged, context({ lookup, pendingTotal: () => 99 }))).toBe('rate-limited');
    expect(lookup).not.toHaveBeenCalled();
  });
});

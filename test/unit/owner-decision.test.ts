/**
 * verifyDecision: what is left for the device once the owner channel opened a decision (sealed to
 * it, signed by an enrolled owner over P/D/owner/in; test/unit/envelope.test.ts covers that part).
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import { b64url, makeDecision, type DecisionBody, type Notice } from '../../agent/envelope/index.js';
import { verifyDecision, type DecisionContext } from '../../agent/owner/index.js';

const NOW = Date.parse('2026-11-22T15:00:00.000Z');
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const URL_SHA = sha('https://evidence.example/put/abc?X-Sig=1');
const NOTICE_SHA = sha('the notice plaintext');
const CLIPS = [
  { id: '01JD0000000000000000000001', sha256: sha('clip 1') },
  { id: '01JD0000000000000000000002', sha256: sha('clip 2') },
];
const NOTICE: Notice = {
  requestId: 'rfa-2026-0042',
  receivedAt: iso(NOW),
  requester: { name: 'Springfield PD', kind: 'police' },
  reason: 'Package theft',
  window: { from: iso(NOW - 60_000), to: iso(NOW) },
  destination: { scheme: 'https', host: 'evidence.example', path: '/put/abc', urlSha256: URL_SHA },
  receiptTo: null,
  clips: CLIPS.map((c) => ({ ...c, start: iso(NOW - 60_000), end: iso(NOW), bytes: 1, trigger: 'ring' })),
  expiresAt: iso(NOW + 3600_000),
};

function context(overrides: Partial<DecisionContext> = {}): DecisionContext {
  const requests = new Map([
    ['rfa-2026-0042', { state: 'pending', clips: CLIPS, urlSha256: URL_SHA, noticeSha256: NOTICE_SHA }],
    ['rfa-2026-0001', { state: 'denied', clips: CLIPS, urlSha256: URL_SHA, noticeSha256: undefined }],
  ]);
  return { deviceId: 'frontdoor', now: NOW, request: (id) => requests.get(id), nonceSeen: (nonce) => nonce === 'c2Vlbi1iZWZvcmUtbm9uY2UtMTY', ...overrides };
}

function body(changes: Partial<DecisionBody> = {}): DecisionBody {
  const base = makeDecision({
    device: 'frontdoor',
    notice: NOTICE,
    noticeSha256: NOTICE_SHA,
    decision: 'approve',
    clipIds: [CLIPS[0]!.id],
    now: NOW,
    nonce: b64url(randomBytes(16)),
  });
  return { ...base, ...changes };
}

describe('verifyDecision', () => {
  it('accepts a valid approval of a subset of the clips, bound to the notice that was shown', () => {
    const d = body();
    expect(d.clips).toEqual([CLIPS[0]]);
    expect(d.noticeSha256).toBe(NOTICE_SHA);
    expect(verifyDecision(d, context())).toEqual({ ok: true, decision: d });
  });

  it('accepts a valid denial with no clips', () => {
    expect(verifyDecision(body({ decision: 'deny', clips: [] }), context()).ok).toBe(true);
  });

  const refusals: [string, () => DecisionBody][] = [
    ['wrong-device', () => body({ device: 'backdoor' })],
    ['unknown-request', () => body({ requestId: 'rfa-other' })],
    ['request-not-pending', () => body({ requestId: 'rfa-2026-0001' })],
    ['issued-in-future', () => body({ at: iso(NOW + 61_000), expiresAt: iso(NOW + 120_000) })],
    ['expired', () => body({ at: iso(NOW - 600_000), expiresAt: iso(NOW) })],
    ['lifetime-too-long', () => body({ at: iso(NOW), expiresAt: iso(NOW + 3_600_001) })],
    ['nonce-too-short', () => body({ nonce: b64url(randomBytes(15)) })],
    ['replayed-nonce', () => body({ nonce: 'c2Vlbi1iZWZvcmUtbm9uY2UtMTY' })],
    ['notice-mismatch', () => body({ noticeSha256: sha('a notice the device never sent') })],
    ['no-clips', () => body({ clips: [] })],
    ['clip-not-in-request', () => body({ clips: [{ id: 'someone-elses-clip', sha256: CLIPS[0]!.sha256 }] })],
    ['clip-hash-mismatch', () => body({ clips: [{ id: CLIPS[0]!.id, sha256: sha('edited clip') }] })],
    ['duplicate-clip', () => body({ clips: [CLIPS[0]!, CLIPS[0]!] })],
    ['destination-mismatch', () => body({ urlSha256: sha('https://attacker.example/put') })],
    ['deny-with-clips', () => body({ decision: 'deny' })],
    ['bad-payload', () => ({ ...body(), decision: 'maybe' }) as unknown as DecisionBody],
    ['bad-payload', () => ({ ...body(), noticeSha256: undefined }) as unknown as DecisionBody],
    ['bad-payload', () => ({ ...body(), expiresAt: 'tomorrow' })],
  ];

  it.each(refusals)('refuses with %s', (reason, make) => {
    expect(verifyDecision(make(), context())).toMatchObject({ ok: false, reason });
  });

  it('says a copy of a decision already acted on is a replay, whatever the request became since', () => {
    expect(verifyDecision(body({ requestId: 'rfa-2026-0001', nonce: 'c2Vlbi1iZWZvcmUtbm9uY2UtMTY' }), context())).toMatchObject({ ok: false, reason: 'replayed-nonce' });
  });

  it('allows an owner clock up to 60 s ahead and a lifetime of exactly one hour', () => {
    expect(verifyDecision(body({ at: iso(NOW + 60_000), expiresAt: iso(NOW + 60_000 + 3_600_000) }), context()).ok).toBe(true);
  });
});

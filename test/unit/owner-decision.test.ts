import { createHash, randomBytes, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import {
  b64urlEncode,
  generateOwnerKey,
  makeDecisionPayload,
  parseDecisionEnvelope,
  signDecision,
  verifyDecision,
  type DecisionContext,
  type DecisionEnvelope,
  type DecisionPayload,
} from '../../agent/owner/index.js';

const NOW = Date.parse('2026-11-22T15:00:00.000Z');
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const URL_SHA = sha('https://evidence.example/put/abc?X-Sig=1');
const CLIPS = [
  { id: '01JD0000000000000000000001', sha256: sha('clip 1') },
  { id: '01JD0000000000000000000002', sha256: sha('clip 2') },
];

const owner = generateOwnerKey();
const revoked = generateOwnerKey();

function context(overrides: Partial<DecisionContext> = {}): DecisionContext {
  const keys = new Map([
    [owner.keyId, { publicKey: b64urlEncode(owner.publicKeyRaw), status: 'active' as const }],
    [revoked.keyId, { publicKey: b64urlEncode(revoked.publicKeyRaw), status: 'revoked' as const }],
  ]);
  const requests = new Map([
    ['rfa-2026-0042', { state: 'pending', clips: CLIPS, urlSha256: URL_SHA }],
    ['rfa-2026-0001', { state: 'denied', clips: CLIPS, urlSha256: URL_SHA }],
  ]);
  return {
    deviceId: 'frontdoor',
    now: NOW,
    keyStatus: (keyId) => keys.get(keyId)?.status ?? 'unknown',
    keyFor: (keyId) => {
      const key = keys.get(keyId);
      return key?.status === 'active' ? { publicKey: key.publicKey } : undefined;
    },
    request: (id) => requests.get(id),
    nonceSeen: (nonce) => nonce === 'c2Vlbi1iZWZvcmUtbm9uY2UtMTY',
    ...overrides,
  };
}

function payload(changes: Partial<DecisionPayload> = {}): DecisionPayload {
  return {
    ...makeDecisionPayload({ device: 'frontdoor', requestId: 'rfa-2026-0042', decision: 'approve', clips: [CLIPS[0]!], urlSha256: URL_SHA, now: NOW }),
    ...changes,
  };
}

const signed = (p: DecisionPayload, key = owner): DecisionEnvelope => signDecision(key.privateKey, key.keyId, p);

describe('verifyDecision', () => {
  it('accepts a valid approval of a subset of the clips', () => {
    const p = payload();
    const verdict = verifyDecision(signed(p), context());
    expect(verdict).toEqual({ ok: true, decision: p });
  });

  it('accepts a valid denial with no clips', () => {
    const verdict = verifyDecision(signed(payload({ decision: 'deny', clips: [] })), context());
    expect(verdict.ok).toBe(true);
  });

  it('accepts an approval that survived the trip through the wire format', () => {
    const raw = Buffer.from(JSON.stringify(signed(payload({ clips: CLIPS }))));
    const parsed = parseDecisionEnvelope(raw);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(verifyDecision(parsed.envelope, context()).ok).toBe(true);
  });

  const refusals: [string, () => DecisionEnvelope][] = [
    ['unknown-key', () => signed(payload(), generateOwnerKey())],
    ['revoked-key', () => signed(payload(), revoked)],
    [
      'bad-signature',
      () => {
        const envelope = signed(payload());
        return { ...envelope, payload: envelope.payload.replace('"approve"', '"deny"') };
      },
    ],
    ['bad-signature', () => ({ ...signed(payload()), keyId: owner.keyId, sig: signed(payload(), revoked).sig })],
    ['bad-signature', () => ({ ...signed(payload()), sig: 'not base64url!' })],
    ['wrong-device', () => signed(payload({ device: 'backdoor' }))],
    ['unknown-request', () => signed(payload({ requestId: 'rfa-other' }))],
    ['request-not-pending', () => signed(payload({ requestId: 'rfa-2026-0001' }))],
    ['issued-in-future', () => signed(payload({ issuedAt: iso(NOW + 61_000), expiresAt: iso(NOW + 120_000) }))],
    ['expired', () => signed(payload({ issuedAt: iso(NOW - 600_000), expiresAt: iso(NOW) }))],
    ['lifetime-too-long', () => signed(payload({ issuedAt: iso(NOW), expiresAt: iso(NOW + 3_600_001) }))],
    ['nonce-too-short', () => signed(payload({ nonce: b64urlEncode(randomBytes(15)) }))],
    ['replayed-nonce', () => signed(payload({ nonce: 'c2Vlbi1iZWZvcmUtbm9uY2UtMTY' }))],
    ['no-clips', () => signed(payload({ clips: [] }))],
    ['clip-not-in-request', () => signed(payload({ clips: [{ id: 'someone-elses-clip', sha256: CLIPS[0]!.sha256 }] }))],
    ['clip-hash-mismatch', () => signed(payload({ clips: [{ id: CLIPS[0]!.id, sha256: sha('edited clip') }] }))],
    ['duplicate-clip', () => signed(payload({ clips: [CLIPS[0]!, CLIPS[0]!] }))],
    ['destination-mismatch', () => signed(payload({ urlSha256: sha('https://attacker.example/put') }))],
    ['deny-with-clips', () => signed(payload({ decision: 'deny' }))],
    ['bad-payload', () => signDecisionText('{"v":1,')],
    ['bad-payload', () => signDecisionText(JSON.stringify({ ...payload(), decision: 'maybe' }))],
    ['bad-payload', () => signDecisionText(JSON.stringify({ ...payload(), v: 2 }))],
    ['bad-payload', () => signDecisionText(JSON.stringify({ ...payload(), issuedAt: 'yesterday' }))],
  ];

  it.each(refusals)('refuses with %s', (reason, make) => {
    const verdict = verifyDecision(make(), context());
    expect(verdict).toMatchObject({ ok: false, reason });
  });

  it('names the request in a refusal only once the signature is good', () => {
    const forged = { ...signed(payload()), sig: signed(payload(), revoked).sig };
    expect(verifyDecision(forged, context())).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verifyDecision(signed(payload({ device: 'backdoor' })), context())).toEqual({
      ok: false,
      reason: 'wrong-device',
      requestId: 'rfa-2026-0042',
    });
  });

  it('allows an owner clock up to 60 s ahead and a lifetime of exactly one hour', () => {
    const p = payload({ issuedAt: iso(NOW + 60_000), expiresAt: iso(NOW + 60_000 + 3_600_000) });
    expect(verifyDecision(signed(p), context()).ok).toBe(true);
  });
});

/** A correctly signed envelope around payload text the owner's app got wrong. */
function signDecisionText(text: string): DecisionEnvelope {
  return { keyId: owner.keyId, payload: text, sig: b64urlEncode(sign(null, Buffer.from(text, 'utf8'), owner.privateKey)) };
}

describe('parseDecisionEnvelope', () => {
  it.each([
    ['not JSON', Buffer.from('{"keyId":')],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
    ['a JSON array', Buffer.from('[]')],
    ['a payload that is an object, not a string', Buffer.from(JSON.stringify({ keyId: owner.keyId, payload: {}, sig: 'AA' }))],
    ['a malformed keyId', Buffer.from(JSON.stringify({ keyId: 'KEY', payload: '{}', sig: 'AA' }))],
  ])('refuses %s as bad-envelope', (_what, raw) => {
    expect(parseDecisionEnvelope(raw)).toEqual({ ok: false, reason: 'bad-envelope' });
  });

  it('refuses an envelope over 64 KiB', () => {
    const raw = Buffer.from(JSON.stringify({ keyId: owner.keyId, payload: 'x'.repeat(65 * 1024), sig: 'AA' }));
    expect(parseDecisionEnvelope(raw)).toEqual({ ok: false, reason: 'too-large' });
  });

  it('ignores unknown envelope fields', () => {
    const envelope = signed(payload());
    const parsed = parseDecisionEnvelope(Buffer.from(JSON.stringify({ ...envelope, extra: true })));
    expect(parsed).toEqual({ ok: true, envelope });
  });
});

/** Builders for PROTOCOL.md messages, as a requester and an owner would send them. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { iso } from '../../agent/clock.js';
import { REQUEST_DOMAIN, signEnvelope } from '../../agent/requests/requester-key.js';
import { b64urlEncode, generateOwnerKey, type OwnerKeyPair } from '../../agent/owner/index.js';

/** A requester's Ed25519 key, as `doorbell requester keygen` makes one. */
export interface TestRequester extends OwnerKeyPair {
  key: string;
}

export function newRequester(): TestRequester {
  const k = generateOwnerKey();
  return { ...k, key: b64urlEncode(k.publicKeyRaw) };
}

/** The requester every test uses unless it needs several. */
export const REQUESTER = newRequester();

/** A request payload in `by`'s id namespace, with its receipt topic under requesters/{keyId}. */
export function makeRequest(overrides: Record<string, unknown> & { uploadUrl?: string; by?: TestRequester } = {}): Record<string, unknown> {
  const now = Date.now();
  const { uploadUrl, by = REQUESTER, ...rest } = overrides;
  return {
    v: 2,
    id: `${by.keyId}.rfa-${randomBytes(4).toString('hex')}`,
    requester: { name: 'Springfield PD', kind: 'police', contact: 'records@spd.example', caseNumber: '24-118' },
    reason: 'Package theft on Elm St',
    window: { from: iso(now - 10 * 60_000), to: iso(now) },
    upload: { url: uploadUrl ?? 'https://evidence.example/put/abc?X-Sig=1', expiresAt: iso(now + 3600_000) },
    replyTo: `requesters/${by.keyId}/receipts`,
    expiresAt: iso(now + 3600_000),
    ...rest,
  };
}

/** The message a requester publishes: the payload's exact text signed by its key (docs/protocol.md "Request"). */
export function signedRequest(request: unknown, by: TestRequester = REQUESTER, extra: Record<string, unknown> = {}): string {
  const env = signEnvelope(REQUEST_DOMAIN, by.privateKey, by.publicKeyRaw, JSON.stringify(request));
  return JSON.stringify({ v: 2, ...env, ...extra });
}

/** A fresh age X25519 identity from Debian's `age-keygen`: the real tool, so its format is the reference. */
export function newAgeIdentity(): { identity: string; recipient: string } {
  const out = execFileSync('age-keygen', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const identity = out.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
  const recipient = execFileSync('age-keygen', ['-y'], { input: identity, encoding: 'utf8' }).trim();
  return { identity, recipient };
}

export function newOwner(): OwnerKeyPair & { publicKey: string; identity: string; sealingRecipient: string } {
  const key = generateOwnerKey();
  const { identity, recipient } = newAgeIdentity();
  return { ...key, publicKey: b64urlEncode(key.publicKeyRaw), identity, sealingRecipient: recipient };
}

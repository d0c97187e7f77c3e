/**
 * Signed owner decisions (PROTOCOL.md "Decision"). The payload travels as a JSON string and the
 * signature covers exactly its UTF-8 bytes, so nobody has to canonicalise JSON.
 */
import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { iso, parseIso } from '../clock.js';
import { ID_PATTERN } from '../ids.js';
import { b64urlEncode, parseB64url, verifyEd25519 } from './crypto.js';
import type { KeyStatus } from './registry.js';

export const MAX_DECISION_BYTES = 64 * 1024;
export const MAX_CLOCK_AHEAD_MS = 60_000;
export const MAX_DECISION_LIFETIME_MS = 60 * 60_000;
export const DEFAULT_DECISION_LIFETIME_MS = 10 * 60_000;
export const MIN_NONCE_BYTES = 16;

export interface DecisionEnvelope {
  keyId: string;
  /** The payload as JSON text; `sig` is over its UTF-8 bytes. */
  payload: string;
  sig: string;
}

export interface DecisionClip {
  id: string;
  sha256: string;
}

export interface DecisionPayload {
  v: 1;
  device: string;
  requestId: string;
  decision: 'approve' | 'deny' | 'cancel';
  clips: DecisionClip[];
  urlSha256: string;
  issuedAt: string;
  expiresAt: string;
  nonce: string;
}

export type EnvelopeRefusal = 'too-large' | 'bad-envelope';

export type DecisionRefusal =
  | 'unknown-key'
  | 'revoked-key'
  | 'bad-signature'
  | 'bad-payload'
  | 'wrong-device'
  | 'unknown-request'
  | 'request-not-pending'
  | 'request-not-approved'
  | 'issued-in-future'
  | 'expired'
  | 'lifetime-too-long'
  | 'nonce-too-short'
  | 'replayed-nonce'
  | 'no-clips'
  | 'duplicate-clip'
  | 'clip-not-in-request'
  | 'clip-hash-mismatch'
  | 'destination-mismatch'
  | 'deny-with-clips';

export interface DecisionContext {
  /** This device's id. */
  deviceId: string;
  now: number;
  keyStatus(keyId: string): KeyStatus;
  /** Active (enrolled, unrevoked) keys only. */
  keyFor(keyId: string): { publicKey: string } | undefined;
  request(id: string): { state: string; clips: DecisionClip[]; urlSha256: string } | undefined;
  nonceSeen(nonce: string): boolean;
}

const envelopeSchema = z.object({
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  payload: z.string(),
  sig: z.string(),
});

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
const time = z.string().refine((t) => Number.isFinite(parseIso(t)));
const id = z.string().regex(ID_PATTERN);

const payloadSchema = z.object({
  v: z.literal(1),
  device: id,
  requestId: id,
  decision: z.enum(['approve', 'deny', 'cancel']),
  clips: z.array(z.object({ id, sha256: sha256Hex })),
  urlSha256: sha256Hex,
  issuedAt: time,
  expiresAt: time,
  nonce: z.string().max(256).refine((n) => parseB64url(n) !== undefined),
});

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseDecisionEnvelope(
  raw: Buffer,
): { ok: true; envelope: DecisionEnvelope } | { ok: false; reason: EnvelopeRefusal } {
  if (raw.length > MAX_DECISION_BYTES) return { ok: false, reason: 'too-large' };
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(raw));
  } catch {
    // Invalid UTF-8 or JSON is the sender's fault, reported as the reason.
    return { ok: false, reason: 'bad-envelope' };
  }
  const parsed = envelopeSchema.safeParse(json);
  return parsed.success ? { ok: true, envelope: parsed.data } : { ok: false, reason: 'bad-envelope' };
}

export type DecisionVerdict =
  | { ok: true; decision: DecisionPayload }
  | { ok: false; reason: DecisionRefusal; requestId?: string };

/**
 * Checks the five conditions of PROTOCOL.md in order. `requestId` is reported only once the
 * signature is known to be good, so a forgery cannot make the device post on a request's status.
 * On success the caller must remember the nonce until `expiresAt` before acting on the decision.
 */
export function verifyDecision(envelope: DecisionEnvelope, ctx: DecisionContext): DecisionVerdict {
  // 1. an enrolled, unrevoked key signed exactly these payload bytes
  if (ctx.keyStatus(envelope.keyId) === 'revoked') return { ok: false, reason: 'revoked-key' };
  const key = ctx.keyFor(envelope.keyId);
  if (!key) return { ok: false, reason: 'unknown-key' };
  const publicKey = parseB64url(key.publicKey);
  const sig = parseB64url(envelope.sig);
  if (!publicKey || !sig || !verifyEd25519(publicKey, Buffer.from(envelope.payload, 'utf8'), sig)) {
    return { ok: false, reason: 'bad-signature' };
  }
  const payload = parsePayload(envelope.payload);
  if (!payload.ok) return { ok: false, reason: 'bad-payload', ...payload.claimed };
  const d = payload.decision;
  const refuse = (reason: DecisionRefusal): DecisionVerdict => ({ ok: false, reason, requestId: d.requestId });

  // 2. meant for this device and a request waiting for the owner
  if (d.device !== ctx.deviceId) return refuse('wrong-device');
  const request = ctx.request(d.requestId);
  if (!request) return refuse('unknown-request');
  // A cancel stops an approved upload; approve and deny answer a pending request.
  if (d.decision === 'cancel') {
    if (request.state !== 'approved' && request.state !== 'uploading') return refuse('request-not-approved');
  } else if (request.state !== 'pending') return refuse('request-not-pending');

  // 3. fresh
  const issuedAt = parseIso(d.issuedAt);
  const expiresAt = parseIso(d.expiresAt);
  if (issuedAt > ctx.now + MAX_CLOCK_AHEAD_MS) return refuse('issued-in-future');
  if (expiresAt <= ctx.now) return refuse('expired');
  if (expiresAt - issuedAt > MAX_DECISION_LIFETIME_MS) return refuse('lifetime-too-long');

  // 4. never seen before
  if ((parseB64url(d.nonce)?.length ?? 0) < MIN_NONCE_BYTES) return refuse('nonce-too-short');
  if (ctx.nonceSeen(d.nonce)) return refuse('replayed-nonce');

  // 5. bound to these clips and this destination
  if (d.decision !== 'approve') return d.clips.length > 0 ? refuse('deny-with-clips') : { ok: true, decision: d };
  if (d.clips.length === 0) return refuse('no-clips');
  const held = new Map(request.clips.map((c) => [c.id, c.sha256]));
  const approved = new Set<string>();
  for (const clip of d.clips) {
    if (approved.has(clip.id)) return refuse('duplicate-clip');
    approved.add(clip.id);
    const sha256 = held.get(clip.id);
    if (sha256 === undefined) return refuse('clip-not-in-request');
    if (sha256 !== clip.sha256) return refuse('clip-hash-mismatch');
  }
  if (d.urlSha256 !== request.urlSha256) return refuse('destination-mismatch');
  return { ok: true, decision: d };
}

function parsePayload(text: string): { ok: true; decision: DecisionPayload } | { ok: false; claimed: { requestId?: string } } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // A signed payload that is not JSON: the owner's app is broken; the reason says so.
    return { ok: false, claimed: {} };
  }
  const parsed = payloadSchema.safeParse(json);
  if (parsed.success) return { ok: true, decision: parsed.data };
  const requestId = (json as { requestId?: unknown } | null)?.requestId;
  return { ok: false, claimed: typeof requestId === 'string' && ID_PATTERN.test(requestId) ? { requestId } : {} };
}

export function signDecision(privateKey: KeyObject, keyId: string, payload: DecisionPayload): DecisionEnvelope {
  const text = JSON.stringify(payload);
  return { keyId, payload: text, sig: b64urlEncode(sign(null, Buffer.from(text, 'utf8'), privateKey)) };
}

export interface DecisionDraft {
  device: string;
  requestId: string;
  decision: 'approve' | 'deny' | 'cancel';
  clips?: DecisionClip[];
  urlSha256: string;
  now?: number;
  lifetimeMs?: number;
}

/** A payload ready to sign: issued now, expiring after `lifetimeMs` (10 min), with a fresh 16-byte nonce. */
export function makeDecisionPayload(draft: DecisionDraft): DecisionPayload {
  const now = draft.now ?? Date.now();
  return {
    v: 1,
    device: draft.device,
    requestId: draft.requestId,
    decision: draft.decision,
    clips: draft.clips ?? [],
    urlSha256: draft.urlSha256,
    issuedAt: iso(now),
    expiresAt: iso(now + (draft.lifetimeMs ?? DEFAULT_DECISION_LIFETIME_MS)),
    nonce: b64urlEncode(randomBytes(MIN_NONCE_BYTES)),
  };
}

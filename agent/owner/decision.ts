/**
 * Checking an owner's decision (protocol.md "Decision"). The channel has already opened it: sealed
 * to this device, signed by an enrolled, unrevoked owner key over this topic. What is left is that
 * it is about a request waiting here, is fresh, and approves exactly what the owner was shown.
 */
import { parseIso } from '../clock.js';
import {
  MAX_DECISION_LIFETIME_MS,
  MIN_NONCE_BYTES,
  parseDecision,
  type DecisionBody,
  type DecisionClip,
  type Json,
} from '../envelope/index.js';
import { parseB64url } from './crypto.js';

export const MAX_CLOCK_AHEAD_MS = 60_000;
export { MAX_DECISION_LIFETIME_MS, MIN_NONCE_BYTES };

export type DecisionRefusal =
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
  | 'notice-mismatch'
  | 'deny-with-clips';

export interface DecisionContext {
  /** This device's id. */
  deviceId: string;
  now: number;
  request(id: string): { state: string; clips: DecisionClip[]; urlSha256: string; noticeSha256: string | undefined } | undefined;
  nonceSeen(nonce: string): boolean;
}

export type DecisionVerdict =
  | { ok: true; decision: DecisionBody }
  | { ok: false; reason: DecisionRefusal; requestId?: string };

/**
 * The checks of protocol.md in order. On success the caller must remember the nonce until
 * `expiresAt` before acting on the decision.
 */
export function verifyDecision(body: Json, ctx: DecisionContext): DecisionVerdict {
  let d: DecisionBody;
  try {
    d = parseDecision(body);
  } catch {
    // The owner's app sent a signed decision we cannot read: its reason says so.
    const requestId = typeof body.requestId === 'string' && ctx.request(body.requestId) ? body.requestId : undefined;
    return { ok: false, reason: 'bad-payload', ...(requestId ? { requestId } : {}) };
  }
  const refuse = (reason: DecisionRefusal): DecisionVerdict => ({ ok: false, reason, requestId: d.requestId });

  // meant for this device and a request waiting for the owner
  if (d.device !== ctx.deviceId) return refuse('wrong-device');
  const request = ctx.request(d.requestId);
  if (!request) return refuse('unknown-request');
  // A copy of a decision already acted on (an owner's resend after silence) is said to be one, whatever
  // the request's state now: its sender learns that an earlier send arrived, not that someone else decided.
  if (ctx.nonceSeen(d.nonce)) return refuse('replayed-nonce');
  // A cancel stops an approved upload; approve and deny answer a pending request.
  if (d.decision === 'cancel') {
    if (request.state !== 'approved' && request.state !== 'uploading') return refuse('request-not-approved');
  } else if (request.state !== 'pending') return refuse('request-not-pending');

  // fresh
  const issuedAt = parseIso(d.at);
  const expiresAt = parseIso(d.expiresAt);
  if (issuedAt > ctx.now + MAX_CLOCK_AHEAD_MS) return refuse('issued-in-future');
  if (expiresAt <= ctx.now) return refuse('expired');
  if (expiresAt - issuedAt > MAX_DECISION_LIFETIME_MS) return refuse('lifetime-too-long');

  if ((parseB64url(d.nonce)?.length ?? 0) < MIN_NONCE_BYTES) return refuse('nonce-too-short');

  // about the notice the device sent (a cancel comes after it was answered), its destination and its clips
  if (d.decision !== 'cancel' && d.noticeSha256 !== request.noticeSha256) return refuse('notice-mismatch');
  if (d.urlSha256 !== request.urlSha256) return refuse('destination-mismatch');
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
  return { ok: true, decision: d };
}

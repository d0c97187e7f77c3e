/**
 * Signed decisions (PROTOCOL.md "Decision"): the payload travels as a JSON string and the
 * signature covers exactly its UTF-8 bytes.
 */
import { b64urlEncode, randomBytes, utf8 } from './encoding.js';
import type { OwnerKey } from './keys.js';
import type { Notice } from './protocol.js';

/** The device accepts at most one hour; ten minutes covers a slow network without inviting replays. */
const LIFETIME_MS = 10 * 60_000;
const NONCE_BYTES = 16;

export interface DecisionEnvelope {
  keyId: string;
  payload: string;
  sig: string;
}

export interface DecisionPayload {
  v: 1;
  device: string;
  requestId: string;
  decision: 'approve' | 'deny';
  clips: { id: string; sha256: string }[];
  urlSha256: string;
  issuedAt: string;
  expiresAt: string;
  nonce: string;
}

/** Approve exactly `clipIds` (in the notice's order) for the notice's destination, or deny with no clips. */
export function makeDecisionPayload(
  device: string,
  notice: Notice,
  decision: 'approve' | 'deny',
  clipIds: ReadonlySet<string>,
  now = Date.now(),
): DecisionPayload {
  const clips = decision === 'approve' ? notice.clips.filter((c) => clipIds.has(c.id)).map((c) => ({ id: c.id, sha256: c.sha256 })) : [];
  if (decision === 'approve' && clips.length === 0) throw new Error('choose at least one clip to approve');
  return {
    v: 1,
    device,
    requestId: notice.requestId,
    decision,
    clips,
    urlSha256: notice.destination.urlSha256,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + LIFETIME_MS).toISOString(),
    nonce: b64urlEncode(randomBytes(NONCE_BYTES)),
  };
}

/** Silence for this long after sending a decision means it may be lost: the same envelope goes again. */
export const RESEND_AFTER_MS = 15_000;
const MAX_SENDS = 3;

/**
 * Sends the same signed decision again while the doorbell stays silent (it may have been
 * reconnecting without its session). The nonce makes a copy harmless: the device acts on one only.
 */
export function resendWhileUnanswered(send: () => Promise<void>, answered: () => boolean): void {
  let sends = 1;
  const tick = (): void => {
    if (answered() || sends >= MAX_SENDS) return;
    sends++;
    send().catch((err: Error) => console.warn('could not send the decision again', err));
    setTimeout(tick, RESEND_AFTER_MS);
  };
  setTimeout(tick, RESEND_AFTER_MS);
}

export async function signDecision(key: OwnerKey, payload: DecisionPayload): Promise<DecisionEnvelope> {
  const text = JSON.stringify(payload);
  return { keyId: key.keyId, payload: text, sig: b64urlEncode(await key.sign(utf8(text))) };
}

/**
 * The owner's decision (protocol.md "Decision"), built by the shared envelope module from the
 * device-signed notice that was shown, signed by this phone's key with the topic inside the signed
 * bytes, and sealed to the device alone.
 */
import { makeDecision, sealMessage, type DecisionBody, type ShownNotice } from '../../envelope/index.js';
import { b64urlEncode, randomBytes } from './encoding.js';
import type { OwnerKey } from './keys.js';

export function decisionFor(device: string, shown: ShownNotice, decision: 'approve' | 'deny', clipIds: ReadonlySet<string>, now = Date.now()): DecisionBody {
  return makeDecision({
    device,
    notice: shown.notice,
    noticeSha256: shown.sha256,
    decision,
    ...(decision === 'approve' ? { clipIds: shown.notice.clips.filter((c) => clipIds.has(c.id)).map((c) => c.id) } : {}),
    now,
    nonce: b64urlEncode(randomBytes(16)),
  });
}

export async function sealDecision(key: OwnerKey, topic: string, body: DecisionBody, deviceRecipient: string): Promise<Uint8Array> {
  return (await sealMessage(key, topic, body, [deviceRecipient])).ciphertext;
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


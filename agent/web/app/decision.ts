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

/**
 * The transparency report on the phone (docs/protocol.md "Audit log and transparency"): asked for on
 * the sealed owner channel (`report-ask`, signed by this phone, sealed to the doorbell) and answered
 * sealed to the owners (`report`), since it names requesters. Only a report the paired doorbell
 * signed for the owner channel's topic is believed.
 */
import type { TransparencyReport } from '../../audit/report.js';
import { openMessage, ownerTopics, sealMessage, type AgeIdentity, type Signer } from '../../envelope/index.js';
import { b64urlDecode } from './encoding.js';
import type { StoredSealingKey } from './keys.js';

export type { TransparencyReport };

export function reportTopics(prefix: string, deviceId: string): { in: string; out: string } {
  const t = ownerTopics(prefix, deviceId);
  return { in: t.in, out: t.out };
}

/** The sealed, signed `report-ask` to publish on the owner channel's `in` topic. */
export async function reportAsk(signer: Signer, topic: string, deviceRecipient: string): Promise<Uint8Array> {
  const sealed = await sealMessage(signer, topic, { v: 2, kind: 'report-ask', at: new Date().toISOString() }, [deviceRecipient]);
  return sealed.ciphertext;
}

/** The report in a sealed message from the doorbell, or undefined when the message is another kind. */
export async function openReport(
  payload: Uint8Array,
  topic: string,
  sealing: StoredSealingKey,
  device: { keyId: string; publicKey: string },
): Promise<TransparencyReport | undefined> {
  const identity: AgeIdentity = sealing.kind === 'webcrypto' ? sealing.privateKey : sealing.identity;
  const message = await openMessage(payload, topic, {
    identities: [identity],
    keyFor: (keyId) => (keyId === device.keyId ? b64urlDecode(device.publicKey) : undefined),
  });
  if (message.kind !== 'report') return undefined;
  const report = message.body.report as TransparencyReport | undefined;
  if (!report || report.v !== 1 || !Array.isArray(report.months)) throw new Error('the report is malformed');
  return report;
}

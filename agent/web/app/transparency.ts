/** Checks the doorbell's signed audit-log head against the device key learned at pairing. */
import { b64urlDecode, utf8 } from './encoding.js';
import { verifyEd25519 } from './keys.js';
import type { TransparencyHead } from './protocol.js';

export type HeadVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Valid when the device key signed `"{seq}:{head}"`, and the log did not move backwards or fork
 * since the last head this phone saw.
 */
export async function checkHead(
  head: TransparencyHead,
  devicePublicKey: string | undefined,
  previous: { seq: number; head: string } | undefined,
): Promise<HeadVerdict> {
  if (!devicePublicKey) return { ok: false, reason: 'pair with the doorbell first: its key is learned at pairing' };
  if (head.publicKey !== devicePublicKey) return { ok: false, reason: 'signed by a different key than the one this doorbell had at pairing' };
  let signature: Uint8Array<ArrayBuffer>;
  let key: Uint8Array<ArrayBuffer>;
  try {
    signature = b64urlDecode(head.sig);
    key = b64urlDecode(devicePublicKey);
  } catch {
    // Not base64url: the message is malformed, which for a verifier means "does not verify".
    return { ok: false, reason: 'the signature is malformed' };
  }
  if (!(await verifyEd25519(key, utf8(`${head.seq}:${head.head}`), signature))) return { ok: false, reason: 'the signature does not verify' };
  if (previous && head.seq < previous.seq) return { ok: false, reason: `the log went backwards: this phone saw entry ${previous.seq} before` };
  if (previous && head.seq === previous.seq && head.head !== previous.head) return { ok: false, reason: `the log changed: entry ${head.seq} has a different hash than before` };
  return { ok: true };
}

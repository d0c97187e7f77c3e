/**
 * The audit log's identity and signed checkpoints (docs/protocol.md "Audit log and transparency"):
 * a C2SP tlog-checkpoint body signed as a C2SP signed note by the device's Ed25519 key. The origin,
 * which is also the key name, is `doorbell.local/audit/{keyId}`: it names the one log this device
 * key signs for, so a checkpoint of another device's log never matches. Isomorphic: the phone app
 * checks checkpoints with this same file.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { formatCheckpoint, formatVerifierKey, hex, openNote, parseCheckpoint, signNote, type Checkpoint } from '../tlog/index.js';

export function auditOrigin(devicePublicKey: Uint8Array): string {
  return `doorbell.local/audit/${hex(sha256(devicePublicKey)).slice(0, 16)}`;
}

/** The verifier key ("vkey") with which anyone checks this device's checkpoints. */
export function auditVerifierKey(devicePublicKey: Uint8Array): string {
  return formatVerifierKey({ name: auditOrigin(devicePublicKey), publicKey: devicePublicKey });
}

export function signCheckpoint(
  size: number,
  rootHash: Uint8Array,
  devicePublicKey: Uint8Array,
  sign: (message: Uint8Array) => Uint8Array,
): string {
  const origin = auditOrigin(devicePublicKey);
  return signNote(formatCheckpoint({ origin, size, rootHash, extensions: [] }), origin, sign, devicePublicKey);
}

/** Opens a checkpoint note signed by this device key for this device's log; throws saying why not. */
export function openCheckpoint(note: string, devicePublicKey: Uint8Array): Checkpoint {
  const origin = auditOrigin(devicePublicKey);
  let body: string;
  try {
    body = openNote(note, [{ name: origin, publicKey: devicePublicKey }]).body;
  } catch (err) {
    throw new Error(`the checkpoint is not signed by this device's key (${origin}): ${(err as Error).message}`);
  }
  const checkpoint = parseCheckpoint(body);
  if (checkpoint.origin !== origin) throw new Error(`the checkpoint is for log "${checkpoint.origin}", not this device's log "${origin}"`);
  return checkpoint;
}

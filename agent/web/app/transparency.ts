/**
 * Keeps the doorbell's history from shrinking unnoticed (docs/protocol.md "Audit log and
 * transparency"): the phone keeps the newest checkpoint it has verified, and a newer one is accepted
 * only with an RFC 6962 consistency proof from the kept one. A smaller size, a different root at the
 * same size, or a proof that fails means the doorbell's log was truncated, rolled back or rewritten.
 */
import { openCheckpoint } from '../../audit/checkpoints.js';
import { base64Decode, base64Encode, equalBytes, verifyConsistency } from '../../tlog/index.js';
import { b64urlDecode } from './encoding.js';

/** The newest checkpoint this phone verified, as stored. */
export interface KeptCheckpoint {
  size: number;
  /** Standard base64, as in the checkpoint. */
  rootHash: string;
  note: string;
}

export type CheckpointVerdict =
  | { state: 'verified'; checkpoint: KeptCheckpoint }
  | { state: 'needs-proof'; checkpoint: KeptCheckpoint; kept: KeptCheckpoint }
  | { state: 'broken'; reason: string };

/** `P/D/transparency`: `{"v":2,"checkpoint":"<signed note>"}`. */
export function parseCheckpointMessage(text: string): string {
  const json = JSON.parse(text) as { v?: unknown; checkpoint?: unknown } | null;
  if (json?.v !== 2 || typeof json.checkpoint !== 'string') throw new Error('not a checkpoint message');
  return json.checkpoint;
}

/** `P/D/owner/audit/proof`: `{"v":2,"oldSize","newSize","proof":[…]}` or, with no proof, `"error"`. */
export function parseProofAnswer(text: string): { oldSize: number; newSize: number; proof?: string[]; error?: string } {
  const json = JSON.parse(text) as Record<string, unknown> | null;
  const size = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (json?.v !== 2 || !size(json.oldSize) || !size(json.newSize)) throw new Error('not a proof answer');
  if (Array.isArray(json.proof) && json.proof.every((p) => typeof p === 'string')) return { oldSize: json.oldSize, newSize: json.newSize, proof: json.proof as string[] };
  return { oldSize: json.oldSize, newSize: json.newSize, error: typeof json.error === 'string' ? json.error : 'no proof' };
}

function keep(note: string, size: number, rootHash: Uint8Array): KeptCheckpoint {
  return { note, size, rootHash: base64Encode(rootHash) };
}

/** Checks a checkpoint note against the device key learned at pairing and the checkpoint kept so far. */
export function checkCheckpoint(note: string, devicePublicKey: string | undefined, kept: KeptCheckpoint | undefined): CheckpointVerdict {
  if (!devicePublicKey) return { state: 'broken', reason: 'pair with the doorbell first: its key is learned at pairing' };
  let size: number;
  let rootHash: Uint8Array;
  try {
    ({ size, rootHash } = openCheckpoint(note, b64urlDecode(devicePublicKey)));
  } catch (err) {
    return { state: 'broken', reason: (err as Error).message };
  }
  const checkpoint = keep(note, size, rootHash);
  if (!kept) return { state: 'verified', checkpoint };
  if (size < kept.size) {
    return {
      state: 'broken',
      reason: `the doorbell's log shrank: this phone saw ${kept.size} entries, the doorbell now signs ${size}. Entries were deleted or an old copy of its storage was restored`,
    };
  }
  if (size === kept.size) {
    return equalBytes(rootHash, base64Decode(kept.rootHash))
      ? { state: 'verified', checkpoint }
      : { state: 'broken', reason: `the doorbell signed two different histories of ${size} entries: its log was rewritten or forked` };
  }
  return { state: 'needs-proof', checkpoint, kept };
}

/** Checks the device's consistency proof (standard base64 hashes) from the kept checkpoint to the newer one. */
export function checkConsistencyProof(kept: KeptCheckpoint, newer: KeptCheckpoint, proof: string[]): CheckpointVerdict {
  let hashes: Uint8Array[];
  try {
    hashes = proof.map(base64Decode);
  } catch {
    return { state: 'broken', reason: 'the doorbell sent a malformed consistency proof' };
  }
  if (verifyConsistency(kept.size, newer.size, base64Decode(kept.rootHash), base64Decode(newer.rootHash), hashes)) {
    return { state: 'verified', checkpoint: newer };
  }
  return {
    state: 'broken',
    reason: `the doorbell cannot prove that its log of ${newer.size} entries extends the ${kept.size} this phone saw: entries were rewritten, deleted or forked`,
  };
}

/**
 * Offline verification of an evidence bundle for its recipient (a court, an insurer): what the
 * bundle proves and what it does not, in plain words. Needs nothing but the bundle and, to tie it to
 * a particular doorbell and owner, their public keys (docs/protocol.md "Evidence bundle").
 */
import { createHash } from 'node:crypto';
import { auditOrigin, openCheckpoint, type EntryProof } from '../audit/index.js';
import { keyIdOf, parseB64url } from '../owner/index.js';
import { readBundle, verifyBundle, type Manifest } from '../requests/index.js';
import { base64Decode, equalBytes, leafHash, verifyInclusion, type Checkpoint } from '../tlog/index.js';

export interface EvidenceVerdict {
  /** True when nothing in the bundle failed a check. */
  ok: boolean;
  proven: string[];
  notProven: string[];
  problems: string[];
}

export interface EvidenceKeys {
  /** The doorbell's raw Ed25519 public key, as its owner or the doorbell itself told you. */
  deviceKey?: Uint8Array;
  /** The owner's Ed25519 public key, base64url. */
  ownerKey?: string;
}

const fingerprint = (raw: Uint8Array): string => keyIdOf(raw).match(/.{4}/g)!.join(' ');

function entryProofOf(data: Buffer | undefined, name: string): EntryProof {
  if (!data) throw new Error(`${name} is missing`);
  const json = JSON.parse(data.toString('utf8')) as Partial<EntryProof>;
  if (json.v !== 1 || !Number.isSafeInteger(json.index) || typeof json.entry !== 'string' || !Array.isArray(json.proof)) {
    throw new Error(`${name} is not an entry proof`);
  }
  return json as EntryProof;
}

/** Checks one entry's inclusion under the checkpoint and returns the parsed entry. */
function includedEntry(proof: EntryProof, checkpoint: Checkpoint, name: string): Record<string, unknown> {
  let hashes: Uint8Array[];
  try {
    hashes = proof.proof.map((p) => base64Decode(p));
  } catch {
    throw new Error(`${name}: the proof is not standard base64`);
  }
  if (!verifyInclusion(leafHash(Buffer.from(proof.entry, 'utf8')), proof.index, checkpoint.size, hashes, checkpoint.rootHash)) {
    throw new Error(`${name}: the entry is not in the log the checkpoint signs (the inclusion proof fails)`);
  }
  const entry = JSON.parse(proof.entry) as Record<string, unknown>;
  if (entry.seq !== proof.index + 1) throw new Error(`${name}: entry ${String(entry.seq)} stands at index ${proof.index}`);
  return entry;
}

function checkLog(files: Map<string, Buffer>, manifest: Manifest, deviceKey: Uint8Array, verdict: EvidenceVerdict): void {
  const note = files.get('log/checkpoint');
  if (!note) {
    verdict.notProven.push("that the request and the approval were recorded in the doorbell's audit log: the bundle carries no log proofs");
    return;
  }
  try {
    const checkpoint = openCheckpoint(note.toString('utf8'), deviceKey);
    const request = includedEntry(entryProofOf(files.get('log/request.json'), 'log/request.json'), checkpoint, 'log/request.json');
    const approval = includedEntry(entryProofOf(files.get('log/approval.json'), 'log/approval.json'), checkpoint, 'log/approval.json');
    if (request.type !== 'request' || request.requestId !== manifest.requestId) throw new Error('log/request.json is not the entry of this request');
    const payloadSha256 = createHash('sha256').update(manifest.approval.payload, 'utf8').digest('hex');
    if (approval.type !== 'decision' || approval.decision !== 'approve' || approval.requestId !== manifest.requestId) {
      throw new Error('log/approval.json is not the approval of this request');
    }
    if (approval.payloadSha256 !== payloadSha256 || approval.keyId !== manifest.approval.keyId) {
      throw new Error("the approval in manifest.json is not the one the doorbell's log recorded for this request");
    }
    const requester = (request.requester ?? {}) as Record<string, unknown>;
    verdict.proven.push(
      `the doorbell's audit log (${checkpoint.origin}, ${checkpoint.size} entries, checkpoint signed by the doorbell) records this request as entry ${String(request.seq)} at ${String(request.at)}: from ${String(requester.name)} (${String(requester.kind)})${requester.caseNumber ? `, reference ${String(requester.caseNumber)}` : ''}, reason "${String(request.reason)}"`,
    );
    verdict.proven.push(`and records the owner's approval (exactly the one in manifest.json) as entry ${String(approval.seq)} at ${String(approval.at)}`);
    verdict.notProven.push(
      `that the doorbell showed this same log to its owner: compare log/checkpoint with a checkpoint the owner's phone kept or the doorbell published (doorbell audit verify --against), which proves the log was not forked`,
    );
  } catch (err) {
    verdict.problems.push((err as Error).message);
  }
}

export function verifyEvidence(archive: Buffer, keys: EvidenceKeys = {}): EvidenceVerdict {
  const verdict: EvidenceVerdict = { ok: false, proven: [], notProven: [], problems: [] };
  const bundle = verifyBundle(archive, keys.ownerKey ? { ownerPublicKey: keys.ownerKey } : {});
  verdict.problems.push(...bundle.problems);
  const manifest = bundle.manifest;
  if (!manifest) return verdict;
  const files = new Map(readBundle(archive).map((f) => [f.name, f.data]));
  const named = parseB64url(manifest.devicePublicKey);
  if (named?.length !== 32) {
    verdict.problems.push('manifest.json does not name a 32-byte device key');
    return verdict;
  }
  const deviceKey = keys.deviceKey ?? named;
  const signedOk = !bundle.problems.some((p) => p.startsWith('manifest.sig'));
  if (keys.deviceKey && !equalBytes(keys.deviceKey, named)) {
    verdict.problems.push(
      `manifest.json was signed by device key ${fingerprint(named)}, not by the doorbell key you gave (${fingerprint(keys.deviceKey)}): another device made this bundle`,
    );
  } else if (signedOk) {
    verdict.proven.push(
      keys.deviceKey
        ? `the doorbell with key ${fingerprint(deviceKey)} (${auditOrigin(deviceKey)}), the key you gave, signed manifest.json: the request, the clip list with their hashes, and the owner's approval`
        : `manifest.json is signed by the device key it names (${fingerprint(deviceKey)})`,
    );
    if (!keys.deviceKey) {
      verdict.notProven.push(`that key ${fingerprint(deviceKey)} is the doorbell you think: get its key from the owner (doorbell audit key) and pass --device-key`);
    }
  }
  const clipProblems = bundle.problems.filter((p) => p.startsWith('clips/') || p.includes(' is not listed') || p.startsWith('clip '));
  if (!clipProblems.length) {
    const bytes = manifest.clips.reduce((n, c) => n + c.bytes, 0);
    verdict.proven.push(`every one of the ${manifest.clips.length} clip(s) (${bytes} bytes) is byte for byte the one the doorbell listed (SHA-256), none missing and none added`);
  }
  const approvalProblems = bundle.problems.filter((p) => p.includes('approval') || p.includes('approved'));
  if (!approvalProblems.length) {
    if (keys.ownerKey) {
      verdict.proven.push(`the owner key ${manifest.approval.keyId} (the key you gave) signed the approval of exactly these clips for request ${manifest.requestId} to this device`);
    } else {
      verdict.notProven.push(`whose approval it is: it names owner key ${manifest.approval.keyId}; pass --owner-key with the owner's public key to check its signature`);
    }
  }
  checkLog(files, manifest, deviceKey, verdict);
  verdict.notProven.push("that the doorbell's clock was right (times are the doorbell's own) and anything the camera did not record");
  verdict.ok = verdict.problems.length === 0;
  return verdict;
}

/**
 * The evidence bundle (PROTOCOL.md "Upload"): an uncompressed ustar archive of manifest.json,
 * manifest.sig and the approved clips. It is written from disk with its exact length known up
 * front, and every clip is re-checked against its recorded size and sha256 while it is sent.
 */
import { createHash } from 'node:crypto';
import * as z from '../zod.js';
import { parseIso } from '../clock.js';
import type { TriggerKind } from '../events.js';
import { ID_PATTERN } from '../ids.js';
import { signedBytes } from '../envelope/index.js';
import { keyIdOf, parseB64url, verifyEd25519 } from '../owner/index.js';
import { bundleLength, writeBundle, type BundleEntry, type ChunkWriter } from './bundle-writer.js';
import { parseTar, type TarFile } from './tar.js';

/** The owner's decision as signed: `sig` covers "doorbell-msg/v2" 0x00 topic 0x00 payload (protocol.md "Envelope"). */
export interface ApprovalEnvelope {
  keyId: string;
  topic: string;
  payload: string;
  sig: string;
}

export interface ManifestClipInput {
  id: string;
  start: string;
  end: string;
  bytes: number;
  sha256: string;
  trigger: TriggerKind;
  /** The clip file on disk; never written into the manifest. */
  path: string;
}

export interface ManifestInput {
  device: string;
  devicePublicKey: string;
  requestId: string;
  createdAt: string;
  clips: ManifestClipInput[];
  approval: ApprovalEnvelope;
}

export interface EvidenceBundle {
  manifest: { json: string; sha256: string };
  length: number;
  /** Writes the archive, exactly `length` bytes; rejects (BundleError) if a clip changed on disk. */
  writeTo(write: ChunkWriter): Promise<void>;
}

export function clipFileName(clipId: string): string {
  if (!ID_PATTERN.test(clipId)) throw new RangeError(`not a clip id: ${JSON.stringify(clipId)}`);
  return `clips/${clipId}.mp4`;
}

/** manifest.json exactly in PROTOCOL.md's field order, and the SHA-256 of its bytes. */
export function buildManifest(input: ManifestInput): { json: string; sha256: string } {
  const manifest = {
    v: 1,
    device: input.device,
    devicePublicKey: input.devicePublicKey,
    requestId: input.requestId,
    createdAt: input.createdAt,
    clips: input.clips.map((c) => ({
      file: clipFileName(c.id),
      id: c.id,
      start: c.start,
      end: c.end,
      bytes: c.bytes,
      sha256: c.sha256,
      trigger: c.trigger,
    })),
    approval: { keyId: input.approval.keyId, topic: input.approval.topic, payload: input.approval.payload, sig: input.approval.sig },
  };
  const json = JSON.stringify(manifest);
  return { json, sha256: createHash('sha256').update(json, 'utf8').digest('hex') };
}

/** Files a bundle may carry beside those the manifest lists: the audit log's proofs (docs/protocol.md "Evidence bundle"). */
export const LOG_FILES = ['log/checkpoint', 'log/request.json', 'log/approval.json'] as const;

/** The audit log's signed checkpoint and the inclusion proofs of the request and its approval. */
export interface BundleLogEvidence {
  checkpoint: string;
  request: unknown;
  approval: unknown;
}

function logEntries(log: BundleLogEvidence | undefined): BundleEntry[] {
  if (!log) return [];
  return [
    { name: 'log/checkpoint', data: Buffer.from(log.checkpoint, 'utf8') },
    { name: 'log/request.json', data: Buffer.from(JSON.stringify(log.request), 'utf8') },
    { name: 'log/approval.json', data: Buffer.from(JSON.stringify(log.approval), 'utf8') },
  ];
}

/** The complete bundle for an approved request; `sign` is the device key over the manifest bytes. */
export function buildEvidenceBundle(input: ManifestInput & { sign(message: Buffer): string; log?: BundleLogEvidence }): EvidenceBundle {
  const manifest = buildManifest(input);
  const signature = input.sign(Buffer.from(manifest.json, 'utf8'));
  const entries: BundleEntry[] = [
    { name: 'manifest.json', data: Buffer.from(manifest.json, 'utf8') },
    { name: 'manifest.sig', data: Buffer.from(signature, 'ascii') },
    ...logEntries(input.log),
    ...input.clips.map((c) => ({ name: clipFileName(c.id), path: c.path, bytes: c.bytes, sha256: c.sha256 })),
  ];
  const mtimeMs = parseIso(input.createdAt);
  if (!Number.isFinite(mtimeMs)) throw new RangeError(`createdAt is not an RFC 3339 time: ${input.createdAt}`);
  return { manifest, length: bundleLength(entries), writeTo: (write) => writeBundle(entries, mtimeMs, write) };
}

const manifestSchema = z.object({
  v: z.literal(1),
  device: z.string(),
  devicePublicKey: z.string(),
  requestId: z.string(),
  createdAt: z.string(),
  clips: z.array(
    z.object({
      file: z.string(),
      id: z.string(),
      start: z.string(),
      end: z.string(),
      bytes: z.number().check(z.int(), z.nonnegative()),
      sha256: z.string(),
      trigger: z.string(),
    }),
  ),
  approval: z.object({ keyId: z.string(), topic: z.string(), payload: z.string(), sig: z.string() }),
});

export type Manifest = z.output<typeof manifestSchema>;

const approvalPayloadSchema = z.object({
  v: z.literal(2),
  device: z.string(),
  requestId: z.string(),
  decision: z.string(),
  clips: z.array(z.object({ id: z.string(), sha256: z.string() })),
});

export interface BundleVerification {
  ok: boolean;
  problems: string[];
  manifest?: Manifest;
  manifestSha256?: string;
}

/** The files of a bundle, in archive order; throws when it is not a well-formed ustar archive. */
export function readBundle(archive: Buffer): TarFile[] {
  return parseTar(archive);
}

function checkSignature(what: string, publicKey: string, message: Buffer, signature: string): string | null {
  const key = parseB64url(publicKey);
  const sig = parseB64url(signature);
  if (key?.length !== 32) return `${what} cannot be checked: the public key is not 32 bytes of base64url`;
  if (sig?.length !== 64) return `${what} cannot be checked: the signature is not 64 bytes of base64url`;
  return verifyEd25519(key, message, sig) ? null : `${what} does not verify`;
}

function checkApproval(manifest: Manifest, ownerPublicKey: string | undefined): string[] {
  const problems: string[] = [];
  const { approval } = manifest;
  if (ownerPublicKey) {
    // protocol.md "Envelope": the owner signed the tag, the topic it published on, and the body.
    const signed = Buffer.from(signedBytes(approval.topic, Buffer.from(approval.payload, 'utf8')));
    const bad = checkSignature('approval signature', ownerPublicKey, signed, approval.sig);
    if (bad) problems.push(bad);
    else if (approval.keyId !== keyIdOf(parseB64url(ownerPublicKey)!)) problems.push(`approval keyId ${approval.keyId} does not name the owner key`);
  }
  let payload: z.output<typeof approvalPayloadSchema>;
  try {
    payload = approvalPayloadSchema.parse(JSON.parse(approval.payload));
  } catch (err) {
    return [...problems, `approval payload is not a decision: ${(err as Error).message.split('\n')[0]}`];
  }
  if (payload.decision !== 'approve') problems.push(`approval decision is ${JSON.stringify(payload.decision)}`);
  if (payload.device !== manifest.device) problems.push(`approval is for device ${payload.device}`);
  if (payload.requestId !== manifest.requestId) problems.push(`approval is for request ${payload.requestId}`);
  const approved = new Set(payload.clips.map((c) => `${c.id}:${c.sha256}`));
  const sent = new Set(manifest.clips.map((c) => `${c.id}:${c.sha256}`));
  if (approved.size !== sent.size || [...sent].some((c) => !approved.has(c))) {
    problems.push('the clips sent are not exactly the clips approved');
  }
  return problems;
}

/**
 * Checks a received bundle: the device signature over manifest.json, the owner's approval inside
 * (its signature too when `ownerPublicKey` is given), and every clip against the manifest, with no
 * file the manifest does not list.
 */
export function verifyBundle(archive: Buffer, opts: { ownerPublicKey?: string } = {}): BundleVerification {
  let files: TarFile[];
  try {
    files = readBundle(archive);
  } catch (err) {
    return { ok: false, problems: [(err as Error).message] };
  }
  const byName = new Map<string, Buffer>();
  const problems: string[] = [];
  for (const f of files) {
    if (byName.has(f.name)) problems.push(`${f.name} appears twice`);
    byName.set(f.name, f.data);
  }
  const json = byName.get('manifest.json');
  const sig = byName.get('manifest.sig');
  if (!json || !sig) return { ok: false, problems: [...problems, 'manifest.json or manifest.sig is missing'] };
  const manifestSha256 = createHash('sha256').update(json).digest('hex');

  let manifest: Manifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(json.toString('utf8')));
  } catch (err) {
    return { ok: false, problems: [...problems, `manifest.json is not a manifest: ${(err as Error).message.split('\n')[0]}`], manifestSha256 };
  }
  const badSig = checkSignature('manifest.sig', manifest.devicePublicKey, json, sig.toString('ascii').trim());
  if (badSig) problems.push(badSig);
  problems.push(...checkApproval(manifest, opts.ownerPublicKey));

  const listed = new Set<string>(['manifest.json', 'manifest.sig', ...LOG_FILES]);
  for (const clip of manifest.clips) {
    const expectedName = `clips/${clip.id}.mp4`;
    if (clip.file !== expectedName) problems.push(`clip ${clip.id} is filed as ${clip.file}, expected ${expectedName}`);
    listed.add(clip.file);
    const data = byName.get(clip.file);
    if (!data) {
      problems.push(`${clip.file} is missing`);
      continue;
    }
    if (data.length !== clip.bytes) problems.push(`${clip.file} is ${data.length} bytes, the manifest says ${clip.bytes}`);
    if (createHash('sha256').update(data).digest('hex') !== clip.sha256) problems.push(`${clip.file} sha256 differs from the manifest`);
  }
  for (const name of byName.keys()) if (!listed.has(name)) problems.push(`${name} is not listed in the manifest`);
  return { ok: problems.length === 0, problems, manifest, manifestSha256 };
}

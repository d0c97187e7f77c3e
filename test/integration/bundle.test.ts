import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { signedBytes } from '../../agent/envelope/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvidenceBundle, verifyBundle, type ManifestClipInput, type ManifestInput } from '../../agent/requests/bundle.js';
import { BundleError, bundleLength, writeBundle, type ChunkWriter } from '../../agent/requests/bundle-writer.js';
import { b64urlDecode, b64urlEncode, generateOwnerKey, keyIdOf as keyIdOfRaw } from '../../agent/owner/index.js';
const keyIdOf = (publicKey: string): string => keyIdOfRaw(b64urlDecode(publicKey));
import { parseTar } from '../../agent/requests/tar.js';

interface KeyPair {
  privateKey: KeyObject;
  publicKey: string;
}

function keyPair(): KeyPair {
  const { privateKey, publicKeyRaw } = generateOwnerKey();
  return { privateKey, publicKey: b64urlEncode(publicKeyRaw) };
}

const signWith = (key: KeyPair) => (message: Buffer) => sign(null, message, key.privateKey).toString('base64url');
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** The whole archive; chunks are copied, as the bundle reuses its read buffers. */
async function collect(bundle: { writeTo(write: ChunkWriter): Promise<void> }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await bundle.writeTo((chunk) => {
    chunks.push(Buffer.from(chunk));
  });
  return Buffer.concat(chunks);
}

let dir: string;
const device = keyPair();
const owner = keyPair();
let clips: ManifestClipInput[];

function approval(forClips: ManifestClipInput[], by: KeyPair = owner): ManifestInput['approval'] {
  const payload = JSON.stringify({
    v: 2,
    kind: 'decision',
    device: 'frontdoor',
    requestId: 'rfa-2026-0042',
    decision: 'approve',
    clips: forClips.map((c) => ({ id: c.id, sha256: c.sha256 })),
    urlSha256: sha256('https://evidence.example/put/abc'),
    issuedAt: '2026-11-22T15:00:00.000Z',
    expiresAt: '2026-11-22T15:30:00.000Z',
    nonce: randomBytes(16).toString('base64url'),
  });
  const topic = 'doorbell/frontdoor/owner/in';
  return { keyId: keyIdOf(by.publicKey), topic, payload, sig: signWith(by)(Buffer.from(signedBytes(topic, Buffer.from(payload)))) };
}

function bundleInput(forClips: ManifestClipInput[] = clips): ManifestInput & { sign(m: Buffer): string } {
  return {
    device: 'frontdoor',
    devicePublicKey: device.publicKey,
    requestId: 'rfa-2026-0042',
    createdAt: '2026-11-22T15:01:00.000Z',
    clips: forClips,
    approval: approval(forClips),
    sign: signWith(device),
  };
}

async function clipFile(id: string, data: Buffer): Promise<ManifestClipInput> {
  const path = join(dir, `${id}.mp4`);
  await writeFile(path, data);
  return { id, start: '2026-11-22T14:05:00.000Z', end: '2026-11-22T14:05:08.000Z', bytes: data.length, sha256: sha256(data), trigger: 'ring', path };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bundle-test-'));
  clips = [
    await clipFile('01JD0000000000000000000001', randomBytes(1000)),
    await clipFile('01JD0000000000000000000002', randomBytes(512)),
    await clipFile('01JD0000000000000000000003', randomBytes(70_001)),
  ];
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('evidence bundle', () => {
  it('is a ustar archive that GNU tar lists and extracts byte for byte, of exactly the announced length', async () => {
    const bundle = buildEvidenceBundle(bundleInput());
    const archive = await collect(bundle);
    expect(archive.length).toBe(bundle.length);
    const file = join(dir, 'bundle.tar');
    await writeFile(file, archive);

    const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toEqual(['manifest.json', 'manifest.sig', ...clips.map((c) => `clips/${c.id}.mp4`)]);
    const long = execFileSync('tar', ['-tvf', file, '--numeric-owner'], { encoding: 'utf8' }).trim().split('\n');
    for (const line of long) expect(line).toMatch(/^-rw-r--r-- 0\/0 /);
    expect(long[4]).toContain(' 70001 2026-11-22 ');

    const out = join(dir, 'extracted');
    await mkdir(out);
    execFileSync('tar', ['-xf', file, '-C', out]);
    for (const clip of clips) {
      expect(await readFile(join(out, 'clips', `${clip.id}.mp4`))).toEqual(await readFile(clip.path));
    }
    expect(await readFile(join(out, 'manifest.json'), 'utf8')).toBe(bundle.manifest.json);
    expect(sha256(await readFile(join(out, 'manifest.json')))).toBe(bundle.manifest.sha256);
  });

  it('carries the manifest exactly as PROTOCOL.md shows it, signed by the device', async () => {
    const bundle = buildEvidenceBundle(bundleInput());
    const manifest = JSON.parse(bundle.manifest.json);
    expect(Object.keys(manifest)).toEqual(['v', 'device', 'devicePublicKey', 'requestId', 'createdAt', 'clips', 'approval']);
    expect(Object.keys(manifest.clips[0])).toEqual(['file', 'id', 'start', 'end', 'bytes', 'sha256', 'trigger']);
    expect(manifest.clips[0]).toEqual({
      file: `clips/${clips[0]!.id}.mp4`,
      id: clips[0]!.id,
      start: '2026-11-22T14:05:00.000Z',
      end: '2026-11-22T14:05:08.000Z',
      bytes: 1000,
      sha256: clips[0]!.sha256,
      trigger: 'ring',
    });
    expect(bundle.manifest.json).not.toContain(dir); // the device's file paths stay home

    const result = verifyBundle(await collect(bundle), { ownerPublicKey: owner.publicKey });
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.manifestSha256).toBe(bundle.manifest.sha256);
    expect(result.manifest?.requestId).toBe('rfa-2026-0042');
  });

  it('exposes a clip that was altered in transit', async () => {
    const bundle = buildEvidenceBundle(bundleInput());
    const archive = await collect(bundle);
    const at = archive.indexOf(await readFile(clips[1]!.path));
    archive[at + 10]! ^= 0xff;
    const result = verifyBundle(archive);
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([`clips/${clips[1]!.id}.mp4 sha256 differs from the manifest`]);
  });

  it('exposes a manifest that was altered, and an approval by another key', async () => {
    const archive = await collect(buildEvidenceBundle(bundleInput()));
    const tampered = Buffer.from(archive.toString('latin1').replace('"trigger":"ring"', '"trigger":"rang"'), 'latin1');
    // Same length, so the tar header stays valid and only the signature can notice.
    expect(verifyBundle(tampered).problems).toContain('manifest.sig does not verify');
    const stranger = keyPair();
    expect(verifyBundle(archive, { ownerPublicKey: stranger.publicKey }).problems).toEqual(['approval signature does not verify']);
  });

  it('exposes clips that are not exactly the approved ones', async () => {
    const input = { ...bundleInput(), approval: approval(clips.slice(0, 2)) };
    const result = verifyBundle(await collect(buildEvidenceBundle(input)), { ownerPublicKey: owner.publicKey });
    expect(result.problems).toEqual(['the clips sent are not exactly the clips approved']);
  });

  it('exposes a file the manifest does not list', async () => {
    const bundle = buildEvidenceBundle(bundleInput(clips.slice(0, 1)));
    const files = await collect(bundle);
    const extra = [
      ...parseTar(files).map((f) => ({ name: f.name, data: Buffer.from(f.data) })),
      { name: 'clips/extra.mp4', data: Buffer.from('not approved') },
    ];
    const archive = await collect({ writeTo: (write) => writeBundle(extra, Date.now(), write) });
    expect(archive.length).toBe(bundleLength(extra));
    expect(verifyBundle(archive).problems).toEqual(['clips/extra.mp4 is not listed in the manifest']);
  });

  it('refuses to send a clip whose size changed on disk', async () => {
    const clip = await clipFile('01JD0000000000000000000009', randomBytes(4000));
    const bundle = buildEvidenceBundle(bundleInput([clip]));
    await appendFile(clip.path, 'more');
    const error = await collect(bundle).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BundleError);
    expect((error as BundleError).message).toContain('4004 bytes');
  });

  it('breaks off before the last byte of a clip whose content changed on disk', async () => {
    const clip = await clipFile('01JD0000000000000000000010', randomBytes(200_000));
    const bundle = buildEvidenceBundle(bundleInput([clip]));
    await writeFile(clip.path, randomBytes(200_000));
    let emitted = 0;
    const error = await bundle
      .writeTo((chunk) => {
        emitted += chunk.length;
      })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BundleError);
    expect((error as BundleError).reason).toBe('clip-changed');
    // The clip's data ends before its 192 padding bytes and the two closing zero blocks.
    const clipDataEnd = bundle.length - 1024 - 192;
    expect(emitted).toBeLessThan(clipDataEnd);
  });

  it('sends a 50 MB clip through two read buffers, reading the next chunk while one is written', async () => {
    const path = join(dir, 'big.mp4');
    const size = 50 * 1024 * 1024;
    await writeFile(path, '');
    await truncate(path, size); // sparse: no 50 MB written to the test disk
    const hash = createHash('sha256');
    await pipeline(createReadStream(path), hash);
    const clip: ManifestClipInput = { ...clips[0]!, id: '01JD000000000000000000BIG1', path, bytes: size, sha256: hash.digest('hex') };
    const bundle = buildEvidenceBundle(bundleInput([clip]));

    let total = 0;
    let largestChunk = 0;
    const clipBuffers = new Set<ArrayBufferLike>();
    // A writer that finishes a chunk only when the next one is offered (the last at once): a bundle
    // that waited for each write before reading the next chunk would never finish.
    let finishPrevious = (): void => undefined;
    await bundle.writeTo((chunk) => {
      total += chunk.length;
      largestChunk = Math.max(largestChunk, chunk.length);
      if (chunk.length === 1024 * 1024) clipBuffers.add(chunk.buffer);
      finishPrevious();
      if (total === bundle.length) return;
      return new Promise<void>((resolve) => (finishPrevious = resolve));
    });
    expect(total).toBe(bundle.length);
    expect(largestChunk).toBe(1024 * 1024);
    // 50 chunks of the clip, all read into the same two buffers: no allocation per chunk.
    expect(clipBuffers.size).toBe(2);
  });

});

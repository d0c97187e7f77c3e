import { createHash, randomBytes, sign } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { readdir, readFile, rm, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { signedBytes } from '../../agent/envelope/index.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildEvidenceBundle, type EvidenceBundle, type ManifestClipInput } from '../../agent/requests/bundle.js';
import { BundleError, type ChunkWriter } from '../../agent/requests/bundle-writer.js';
import { checkDestination, type CheckedDestination } from '../../agent/requests/destination.js';
import { b64urlDecode, b64urlEncode, generateOwnerKey, keyIdOf as keyIdOfRaw } from '../../agent/owner/index.js';
const keyIdOf = (publicKey: string): string => keyIdOfRaw(b64urlDecode(publicKey));
import { classifyUploadResult, putBundle, UploadError } from '../../agent/requests/upload.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';

const loopback = { allowInsecure: true, allowPrivate: true };
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

let dir: string;
let clip: ManifestClipInput;
const device = generateOwnerKey();
const owner = generateOwnerKey();
const ownerPublicKey = b64urlEncode(owner.publicKeyRaw);
const stopAfterTest: (() => Promise<void>)[] = [];

/** The paths this process has open. */
function openFiles(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

function evidenceBundle(): EvidenceBundle {
  return buildEvidenceBundle(evidenceInput());
}

function evidenceInput(): Parameters<typeof buildEvidenceBundle>[0] {
  const payload = JSON.stringify({
    v: 2,
    device: 'frontdoor',
    requestId: 'rfa-1',
    decision: 'approve',
    clips: [{ id: clip.id, sha256: clip.sha256 }],
  });
  return {
    device: 'frontdoor',
    devicePublicKey: b64urlEncode(device.publicKeyRaw),
    requestId: 'rfa-1',
    createdAt: '2026-11-22T15:00:00.000Z',
    clips: [clip],
    approval: {
      keyId: keyIdOf(ownerPublicKey),
      topic: 'doorbell/frontdoor/owner/in',
      payload,
      sig: sign(null, signedBytes('doorbell/frontdoor/owner/in', Buffer.from(payload)), owner.privateKey).toString('base64url'),
    },
    sign: (message) => sign(null, message, device.privateKey).toString('base64url'),
  };
}

async function receiver(opts: Parameters<typeof startEvidenceReceiver>[0] = {}): Promise<EvidenceReceiver> {
  const started = await startEvidenceReceiver(opts);
  stopAfterTest.push(() => started.stop());
  return started;
}

async function listen<T extends HttpServer | NetServer>(server: T): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

const bytesOf = (data: Buffer) => ({ length: data.length, writeTo: async (write: ChunkWriter) => write(data) });
const frozenClock = { now: () => 0 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'upload-test-'));
  const data = randomBytes(300_000);
  const path = join(dir, 'clip.mp4');
  await writeFile(path, data);
  clip = { id: '01JD0000000000000000000001', start: '2026-11-22T14:05:00.000Z', end: '2026-11-22T14:05:08.000Z', bytes: data.length, sha256: sha256(data), trigger: 'ring', path };
});

afterEach(async () => {
  for (const stop of stopAfterTest.splice(0)) await stop();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('putBundle', () => {
  it('sends the bundle byte for byte in one PUT with the exact Content-Length and no custom header', async () => {
    const received = join(dir, 'received');
    const rx = await receiver({ dir: received, ownerPublicKey });
    const bundle = evidenceBundle();
    const expected: Buffer[] = [];
    await bundle.writeTo((chunk) => void expected.push(Buffer.from(chunk)));
    const progress: [number, number][] = [];
    const dest = await checkDestination(rx.url('/put/abc?X-Sig=s3cr3t'), loopback);

    const result = await putBundle(dest, bundle, { timeoutMs: 10_000, clock: frozenClock, onProgress: (sent, total) => progress.push([sent, total]) });

    expect(result.status).toBe(200);
    expect(classifyUploadResult(result.status)).toBe('done');
    expect(rx.requests).toHaveLength(1);
    const [request] = rx.requests;
    expect(request).toMatchObject({ method: 'PUT', path: '/put/abc?X-Sig=s3cr3t', bytes: bundle.length, sha256: sha256(Buffer.concat(expected)) });
    expect(request!.headers['content-length']).toBe(String(bundle.length));
    expect(request!.headers['content-type']).toBe('application/x-tar');
    expect(Object.keys(request!.headers).sort()).toEqual(['connection', 'content-length', 'content-type', 'host']);
    expect(await readFile(request!.savedAs!)).toEqual(Buffer.concat(expected));
    expect(request!.verification).toMatchObject({ ok: true, problems: [] });
    // The clock never moved and the answer came before a report was due: none was made.
    expect(progress).toEqual([]);
  });

  it('reports progress at most every 500 ms, the last one too', async () => {
    const rx = await receiver();
    let t = 0;
    const clock = { now: () => (t += 300) };
    const progress: number[] = [];
    const chunks = Array.from({ length: 6 }, () => randomBytes(1000));
    const body = {
      length: 6000,
      writeTo: async (write: ChunkWriter) => {
        for (const chunk of chunks) await write(chunk);
      },
    };
    await putBundle(await checkDestination(rx.url(), loopback), body, { timeoutMs: 10_000, clock, onProgress: (sent) => progress.push(sent) });
    // The clock advances 300 ms per look: every second chunk is 600 ms after the last report, and
    // the last chunk was reported already.
    expect(progress).toEqual([2000, 4000, 6000]);
  });

  it('reports all bytes sent, 500 ms after the last report, while the receiver takes its time to answer', async () => {
    let answeredAt = 0;
    const slow = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () =>
        setTimeout(() => {
          answeredAt = performance.now();
          res.writeHead(200).end();
        }, 1500),
      );
    });
    const port = await listen(slow);
    stopAfterTest.push(async () => {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    });
    const reports: { sent: number; at: number }[] = [];
    const started = performance.now();
    const result = await putBundle(await checkDestination(`http://127.0.0.1:${port}/put`, loopback), bytesOf(randomBytes(5000)), {
      timeoutMs: 10_000,
      onProgress: (sent) => reports.push({ sent, at: performance.now() }),
    });
    expect(result.status).toBe(200);
    expect(reports.map((r) => r.sent)).toEqual([5000]);
    expect(reports[0]!.at - started).toBeGreaterThanOrEqual(490);
    expect(reports[0]!.at).toBeLessThan(answeredAt);
  });

  it('connects to the checked address without looking the host name up again', async () => {
    const rx = await receiver();
    const port = Number(new URL(rx.url()).port);
    const dest: CheckedDestination = {
      url: new URL(`http://receiver.test:${port}/put`),
      host: 'receiver.test',
      port,
      addresses: [{ address: '127.0.0.1', family: 4 }],
    };
    expect((await putBundle(dest, bytesOf(Buffer.from('hello')), { timeoutMs: 10_000 })).status).toBe(200);
    expect(rx.requests).toHaveLength(1);
    expect(rx.requests[0]!.headers.host).toBe(`receiver.test:${port}`);
  });

  it('never follows a redirect', async () => {
    const elsewhere = await receiver();
    const rx = await receiver({ redirectTo: elsewhere.url('/stolen') });
    const result = await putBundle(await checkDestination(rx.url('/put'), loopback), bytesOf(Buffer.from('evidence')), { timeoutMs: 10_000 });
    expect(result.status).toBe(302);
    expect(classifyUploadResult(result.status)).toBe('fail');
    expect(rx.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('turns 503 into a retry and 403 into a failure', async () => {
    const statuses = [503, 403];
    const rx = await receiver({ respond: (n) => statuses[n - 1]! });
    const dest = await checkDestination(rx.url('/put'), loopback);
    const first = await putBundle(dest, bytesOf(Buffer.from('a')), { timeoutMs: 10_000 });
    const second = await putBundle(dest, bytesOf(Buffer.from('a')), { timeoutMs: 10_000 });
    expect([first.status, second.status]).toEqual([503, 403]);
    expect([classifyUploadResult(first.status), classifyUploadResult(second.status)]).toEqual(['retry', 'fail']);
    expect(rx.requests.map((r) => r.status)).toEqual([503, 403]);
  });

  it('gives up when no answer comes in time', async () => {
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => {
      sockets.push(socket);
      socket.resume();
    });
    const port = await listen(silent);
    stopAfterTest.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const error = await putBundle(await checkDestination(`http://127.0.0.1:${port}/put`, loopback), bytesOf(Buffer.from('x')), { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).kind).toBe('timeout');
    expect(classifyUploadResult(error as Error)).toBe('retry');
  });

  it('reads at most 64 KiB of an answer', async () => {
    const endless = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(500);
        Readable.from((function* () {
          for (;;) yield Buffer.alloc(16 * 1024, 120);
        })()).pipe(res).on('error', () => undefined);
      });
    });
    const port = await listen(endless);
    stopAfterTest.push(async () => {
      endless.closeAllConnections();
      await new Promise((resolve) => endless.close(resolve));
    });
    // Reading the endless body to its end would run into the timeout instead.
    const result = await putBundle(await checkDestination(`http://127.0.0.1:${port}/put`, loopback), bytesOf(Buffer.from('x')), { timeoutMs: 10_000 });
    expect(result.status).toBe(500);
  });

  it('fails without completing the body when a clip changes during the upload', async () => {
    const received = join(dir, 'received-changed');
    const rx = await receiver({ dir: received });
    const bundle = evidenceBundle();
    await writeFile(clip.path, randomBytes(clip.bytes));
    try {
      const error = await putBundle(await checkDestination(rx.url('/put'), loopback), bundle, { timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BundleError);
      expect(classifyUploadResult(error as Error)).toBe('fail');
      await expect.poll(() => rx.requests[0]?.error).toBeDefined();
      expect(rx.requests[0]!.bytes).toBeLessThan(bundle.length);
      expect(await readdir(received)).toEqual([]);
    } finally {
      clip = { ...clip, sha256: sha256(await readFile(clip.path)) };
    }
  });

  it('stops reading the clip and closes it when the receiver answers before the body is in', async () => {
    const data = randomBytes(16 * 1024 * 1024);
    const big = { ...clip, id: '01JD0000000000000000000BIG', path: join(dir, 'big.mp4'), bytes: data.length, sha256: sha256(data) };
    await writeFile(big.path, data);
    const early = createHttpServer((_req, res) => {
      res.writeHead(413, { Connection: 'close' }).end('too large\n');
    });
    const port = await listen(early);
    stopAfterTest.push(async () => {
      early.closeAllConnections();
      await new Promise((resolve) => early.close(resolve));
    });
    const bundle = buildEvidenceBundle({ ...evidenceInput(), clips: [big] });
    const outcome = await putBundle(await checkDestination(`http://127.0.0.1:${port}/put`, loopback), bundle, { timeoutMs: 10_000 }).then(
      (r) => r.status,
      (e: unknown) => e,
    );
    // Answered (413) or cut off mid-body (a network error to retry), never hung.
    if (typeof outcome === 'number') expect(outcome).toBe(413);
    else expect(outcome).toMatchObject({ kind: 'network' });
    await expect.poll(() => openFiles().filter((f) => f === big.path)).toEqual([]);
  });

  it('closes the clip when aborted before the connection is up', async () => {
    const rx = await receiver();
    const controller = new AbortController();
    const pending = putBundle(await checkDestination(rx.url('/put'), loopback), evidenceBundle(), { timeoutMs: 10_000, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ kind: 'aborted' });
    await expect.poll(() => openFiles().filter((f) => f === clip.path)).toEqual([]);
  });

  it('refuses a body that does not match its Content-Length', async () => {
    const rx = await receiver();
    const body = { length: 100, writeTo: async (write: ChunkWriter) => write(Buffer.alloc(150)) };
    const error = await putBundle(await checkDestination(rx.url('/put'), loopback), body, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).kind).toBe('length-mismatch');
    expect(classifyUploadResult(error as Error)).toBe('fail');
  });

  it('stops when aborted', async () => {
    const rx = await receiver();
    const dest = await checkDestination(rx.url('/put'), loopback);
    const controller = new AbortController();
    const never = { length: 10, writeTo: () => new Promise<void>(() => undefined) };
    const pending = putBundle(dest, never, { timeoutMs: 10_000, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ kind: 'aborted' });
    await expect(putBundle(dest, never, { timeoutMs: 10_000, signal: controller.signal })).rejects.toMatchObject({ kind: 'aborted' });
  });
});

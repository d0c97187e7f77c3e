/**
 * Writes an evidence bundle's ustar archive in order, straight from the clip files: each chunk is
 * read into one of two buffers used in turn and handed on as it is, and each clip is re-checked
 * against its recorded size and sha256 while it is sent.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { TAR_END, tarEntryLength, tarHeader, tarPadding } from './tar.js';

/** Bytes read from a clip file at a time: a 20 MB bundle goes out in a few dozen chunks, so per-chunk costs vanish. */
const BUNDLE_CHUNK_BYTES = 1024 * 1024;

export type BundleEntry =
  | { name: string; data: Buffer }
  | { name: string; path: string; bytes: number; sha256: string };

export class BundleError extends Error {
  constructor(
    readonly reason: 'clip-changed',
    message: string,
  ) {
    super(message);
    this.name = 'BundleError';
  }
}

export function bundleLength(entries: BundleEntry[]): number {
  return entries.reduce((sum, e) => sum + tarEntryLength('data' in e ? e.data.length : e.bytes), 0) + TAR_END.length;
}

/**
 * Where a bundle's bytes go, in order. A chunk may be a read buffer that is used again once the
 * returned promise settles: a writer that keeps a chunk beyond that must copy it.
 */
export type ChunkWriter = (chunk: Buffer) => Promise<void> | void;

/** A ChunkWriter onto a Writable (a file): a chunk is done once the stream has written it. */
export function streamWriter(stream: Writable): ChunkWriter {
  return (chunk) =>
    new Promise((resolve, reject) => {
      stream.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
}

/**
 * Hands chunks to the writer in order without waiting for each one: only the reuse of a read buffer
 * waits for its write. The first failed write stops the bundle.
 */
class Writes {
  private failed: { error: unknown } | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly write: ChunkWriter) {}

  /** Starts writing `chunk`; the promise settles (it never rejects) once it is written or has failed. */
  push(chunk: Buffer): Promise<void> {
    this.check();
    let written: Promise<void>;
    try {
      written = Promise.resolve(this.write(chunk));
    } catch (err) {
      written = Promise.reject(err);
    }
    const settled = written.then(
      () => {
        this.pending.delete(settled);
      },
      (err: unknown) => {
        this.pending.delete(settled);
        this.failed ??= { error: err };
      },
    );
    this.pending.add(settled);
    return settled;
  }

  /** Throws the first write's failure. */
  check(): void {
    if (this.failed) throw this.failed.error;
  }

  async finish(): Promise<void> {
    await Promise.all(this.pending);
    this.check();
  }
}

/**
 * Two read buffers used in turn: the next chunk of a clip is read and hashed while the previous one
 * is still being written, and a bundle of any size allocates 2 MiB once instead of a buffer per chunk.
 */
class ReadBuffers {
  private readonly buffers = [Buffer.allocUnsafe(BUNDLE_CHUNK_BYTES), Buffer.allocUnsafe(BUNDLE_CHUNK_BYTES)];
  private readonly writing: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  private turn = 0;

  /** The next buffer, once the write that last used it is done. */
  async take(): Promise<Buffer> {
    await this.writing[this.turn];
    return this.buffers[this.turn]!;
  }

  /** The buffer from take() is being written until `written` settles. */
  lend(written: Promise<void>): void {
    this.writing[this.turn] = written;
    this.turn ^= 1;
  }
}

async function writeClip(entry: { name: string; path: string; bytes: number; sha256: string }, buffers: ReadBuffers, writes: Writes): Promise<void> {
  const handle = await open(entry.path, 'r');
  try {
    const { size } = await handle.stat();
    if (size !== entry.bytes) {
      throw new BundleError('clip-changed', `${entry.name}: file is ${size} bytes, the manifest says ${entry.bytes}`);
    }
    const hash = createHash('sha256');
    const checkHash = (): void => {
      if (hash.digest('hex') !== entry.sha256) throw new BundleError('clip-changed', `${entry.name}: sha256 differs from the manifest`);
    };
    if (entry.bytes === 0) checkHash();
    let read = 0;
    while (read < entry.bytes) {
      const buffer = await buffers.take();
      writes.check();
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, entry.bytes - read), read);
      if (bytesRead === 0) throw new BundleError('clip-changed', `${entry.name}: read ${read} bytes, expected ${entry.bytes}`);
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      read += bytesRead;
      // A clip that changed under us must break the upload before its last byte goes out.
      if (read === entry.bytes) checkHash();
      buffers.lend(writes.push(chunk));
    }
  } finally {
    await handle.close();
  }
}

/** Writes the archive in order; each clip file is opened only when reached and closed when done. */
export async function writeBundle(entries: BundleEntry[], mtimeMs: number, write: ChunkWriter): Promise<void> {
  const writes = new Writes(write);
  const buffers = new ReadBuffers();
  for (const entry of entries) {
    const size = 'data' in entry ? entry.data.length : entry.bytes;
    void writes.push(tarHeader(entry.name, size, mtimeMs));
    if ('data' in entry) void writes.push(entry.data);
    else await writeClip(entry, buffers, writes);
    const padding = tarPadding(size);
    if (padding) void writes.push(TAR_END.subarray(0, padding));
  }
  void writes.push(TAR_END);
  await writes.finish();
}

/** The durability steps of the store, behind one narrow interface so a test can make one of them fail. */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, renameSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isMissingFile } from './errors.js';

export interface StoreIo {
  /** Flushes a file's data and size to the device (where a full disk shows up on delayed allocation). */
  syncFile(path: string): Promise<void>;
  /** Flushes a folder, making the creates, renames and unlinks in it durable. */
  syncDir(dir: string): void;
  rename(from: string, to: string): void;
}

export const nodeIo: StoreIo = {
  async syncFile(path) {
    const file = await open(path, 'r');
    try {
      await file.sync();
    } finally {
      await file.close();
    }
  },
  syncDir(dir) {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
  rename: renameSync,
};

export interface FileDigest {
  bytes: number;
  sha256: string;
}

const CHUNK = 256 * 1024;

/** Size and sha256 of a file, streamed in chunks so a large clip is never held in memory. */
export async function hashFile(path: string): Promise<FileDigest> {
  const file = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await file.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    await file.close();
  }
}

/** The synchronous twin of hashFile, for the read-only checks of the CLI and doctor. */
export function hashFileSync(path: string): FileDigest {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let bytes = 0;
    for (;;) {
      const bytesRead = readSync(fd, buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    closeSync(fd);
  }
}

/** Unlinks a file; true when it was there. */
export function unlinkIfPresent(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if (isMissingFile(err)) return false;
    throw err;
  }
}

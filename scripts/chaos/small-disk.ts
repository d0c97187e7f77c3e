/**
 * A small filesystem of its own (a tmpfs of a few megabytes, root only), to fill to the last byte:
 * the full-disk chaos phase and the full-disk tests put the agent's store on one.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';

/** Mounts a tmpfs of `megabytes` on `dir`; returns why it could not (not root, no mount), or null. */
export function mountSmallDisk(dir: string, megabytes: number): string | null {
  if (process.getuid?.() !== 0) return 'not running as root: cannot mount a small tmpfs for the store';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `mount -t tmpfs failed: ${String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim()}`;
  }
}

/** Unmounts lazily, so a file still open (a process that outlived its test) cannot keep it mounted. */
export function unmountSmallDisk(dir: string): void {
  execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
}

/** Writes `file` until the filesystem refuses, first in megabytes, then in 4 KiB, then in bytes; returns the bytes written. */
export function fillDisk(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0xaa);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** Room again: the filler goes. */
export function freeDisk(file: string): void {
  rmSync(file, { force: true });
}

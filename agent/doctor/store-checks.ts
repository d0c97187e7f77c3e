/** The store folder: writable, on which filesystem, and with room for storage.maxBytes. */
import { constants, type Dirent } from 'node:fs';
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from '../cli/command.js';
import { mountOf, nearestExisting, parseMounts, RAM_FILESYSTEMS, type Mount } from './mounts.js';
import type { CheckContext, DoctorCheck } from './types.js';

const MOUNTS = '/proc/self/mounts';

async function fsyncPath(path: string, flags: number): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates, fsyncs and deletes a probe file, as the store does with every clip. */
export async function checkStoreWritable(ctx: CheckContext): Promise<DoctorCheck> {
  const name = 'store writable';
  const dir = ctx.config.storage.dir;
  const probe = join(dir, `.doctor-probe-${process.pid}`);
  try {
    const handle = await open(probe, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
    try {
      await handle.writeFile('doorbell doctor\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await unlink(probe);
    await fsyncPath(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    return { name, ok: true, detail: `${dir}: created, synced and deleted a file` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail = `${dir}: ${(err as Error).message}`;
    if (code === 'ENOENT') {
      return {
        name,
        ok: false,
        detail: `${dir} does not exist yet`,
        fix: `start the agent once (systemd creates /var/lib/doorbell), or: sudo install -d -o doorbell -g doorbell -m 0750 ${dir}`,
      };
    }
    if (code === 'EROFS') {
      const fix = 'the filesystem is read-only (ext4 remounts a failing SD card read-only): check `dmesg`, then replace the card';
      return { name, ok: false, detail, fix };
    }
    if (code === 'ENOSPC') return { name, ok: false, detail, fix: 'the disk is full: free space or lower storage.maxBytes' };
    if (code === 'EACCES' || code === 'EPERM') {
      const fix = `run doctor as the agent's user (sudo -u doorbell doorbell doctor); the folder must belong to it: sudo chown -R doorbell:doorbell ${dir}`;
      return { name, ok: false, detail, fix };
    }
    return { name, ok: false, detail, fix: 'see the message' };
  }
}

/** Bytes of the files under `dir` (what the store already occupies). */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += await folderBytes(path);
    else if (e.isFile()) total += (await stat(path)).size;
  }
  return total;
}

async function mountFor(ctx: CheckContext, path: string): Promise<{ at: string; mount: Mount | undefined }> {
  const at = await nearestExisting(path);
  return { at, mount: mountOf(parseMounts(await ctx.probes.readFile(MOUNTS)), at) };
}

export async function checkStoreSpace(ctx: CheckContext): Promise<DoctorCheck> {
  const name = 'store space';
  const { dir, maxBytes } = ctx.config.storage;
  const { at, mount } = await mountFor(ctx, dir);
  const fs = mount ? `${mount.type} (${mount.device} on ${mount.mountPoint})` : 'an unknown filesystem';
  const free = await ctx.probes.freeBytes(at);
  const used = await folderBytes(dir);
  const detail = `${dir} on ${fs}: ${formatBytes(free)} free, the store uses ${formatBytes(used)} of its ${formatBytes(maxBytes)} cap`;
  if (mount?.options.includes('ro')) {
    const fix = 'remount it read-write; if ext4 did it after errors, check `dmesg` and replace the card';
    return { name, ok: false, detail: `${detail}; mounted read-only`, fix };
  }
  if (free + used < maxBytes) {
    return {
      name,
      ok: false,
      detail,
      fix: `lower storage.maxBytes to at most ${formatBytes(free + used)} or free space on ${mount?.mountPoint ?? at}`,
    };
  }
  if (mount && RAM_FILESYSTEMS.includes(mount.type)) {
    const fix = 'set storage.dir to a folder on the SD card or a USB disk';
    return { name, ok: true, warning: true, detail: `${detail}; this is RAM: clips are lost at reboot`, fix };
  }
  return { name, ok: true, detail };
}

/** Pre-roll segments are written continuously: they belong in RAM, not on the SD card. */
export async function checkRuntimeOnTmpfs(ctx: CheckContext): Promise<DoctorCheck> {
  const name = 'runtime in RAM';
  const dir = ctx.config.runtime.dir;
  const { mount } = await mountFor(ctx, dir);
  if (mount && RAM_FILESYSTEMS.includes(mount.type)) return { name, ok: true, detail: `${dir} is on ${mount.type} (${mount.mountPoint})` };
  return {
    name,
    ok: true,
    warning: true,
    detail:
      `${dir} is on ${mount?.type ?? 'an unknown filesystem'}: ` +
      'pre-roll segments would be written to it without pause, wearing out an SD card',
    fix: 'set runtime.dir to a tmpfs folder such as /run/doorbell (the systemd unit provides it)',
  };
}

import { copyFile, mkdir, stat } from 'node:fs/promises';
import { constants, createReadStream, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { iso } from '../clock.js';
import type { Db } from '../store/database.js';
import { openCliDatabase } from './database.js';
import { readClip, readClips, type ClipRecord } from '../store/index.js';
import type { Config } from '../config.js';
import { UsageError, configFrom, configOption, formatBytes, jsonOption, print, printJson, type Command } from './command.js';

/** The stable `--json` shape of a clip (documented in the README). */
export function clipJson(c: ClipRecord): Record<string, unknown> {
  return {
    id: c.id,
    start: iso(c.start),
    end: iso(c.end),
    seconds: (c.end - c.start) / 1000,
    bytes: c.bytes,
    sha256: c.sha256,
    trigger: c.kind,
    source: c.source,
    triggeredAt: iso(c.triggeredAt),
    path: c.path,
  };
}

function withClips<T>(config: Config, use: (db: Db) => T): T {
  const db = openCliDatabase(config, { readonly: true });
  try {
    return use(db);
  } finally {
    db.close();
  }
}

function find(config: Config, id: string | undefined): ClipRecord {
  if (!id) throw new UsageError('a clip id is required (see `doorbell clips ls`)', 'clips');
  const clip = withClips(config, (db) => readClip(db, config.storage.dir, id));
  if (!clip) throw new Error(`no clip ${id}`);
  return clip;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export const clips: Command = {
  usage: 'clips ls [--json] [--limit N] | clips show ID [--json] | clips export ID DEST [--force] [--json]',
  summary: 'list, inspect and copy out the recorded clips',
  options: { ...configOption, ...jsonOption, limit: { type: 'string' }, force: { type: 'boolean' } },
  async run(args, flags) {
    const config = configFrom(flags);
    const [sub, id, dest] = args;
    if (sub === 'ls') {
      const limit = flags.limit ? Number(flags.limit) : 50;
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit takes a positive whole number', 'clips');
      const list = withClips(config, (db) => readClips(db, config.storage.dir, { limit }));
      if (flags.json) printJson(list.map(clipJson));
      else if (list.length === 0) print('no clips');
      else {
        for (const c of list) {
          print(`${c.id}  ${iso(c.start)}  ${((c.end - c.start) / 1000).toFixed(1).padStart(6)} s  ${c.kind.padEnd(6)}  ${formatBytes(c.bytes).padStart(10)}`);
        }
      }
      return 0;
    }
    if (sub === 'show') {
      const clip = find(config, id);
      if (flags.json) printJson(clipJson(clip));
      else for (const [k, v] of Object.entries(clipJson(clip))) print(`${k.padEnd(12)} ${String(v)}`);
      return 0;
    }
    if (sub === 'export') {
      const clip = find(config, id);
      if (!dest) throw new UsageError('clips export needs ID and DEST (a file, or a folder ending in /)', 'clips');
      const isDir = dest.endsWith('/') || (existsSync(dest) && (await stat(dest)).isDirectory());
      if (isDir) await mkdir(dest, { recursive: true });
      const target = isDir ? join(dest, `${clip.id}.mp4`) : dest;
      if (!existsSync(dirname(target))) {
        throw new Error(`cannot export to ${target}: the folder ${dirname(target)} does not exist (create it, or end DEST with / to have it created)`);
      }
      try {
        // COPYFILE_EXCL: an existing file is never replaced silently.
        await copyFile(clip.path, target, flags.force ? 0 : constants.COPYFILE_EXCL);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${target} exists already: pass --force to overwrite it`);
        throw new Error(`cannot export to ${target}: ${(err as Error).message}`);
      }
      const got = await sha256File(target);
      if (got !== clip.sha256) throw new Error(`copy of ${clip.id} does not match its recorded sha256 (${got} != ${clip.sha256})`);
      if (flags.json) printJson({ id: clip.id, path: target, bytes: clip.bytes, sha256: clip.sha256 });
      else print(`${target}  ${formatBytes(clip.bytes)}  sha256 ${clip.sha256}`);
      return 0;
    }
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'which one: ls, show or export?', 'clips');
  },
};

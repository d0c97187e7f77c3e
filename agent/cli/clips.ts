import { copyFile, mkdir, stat } from 'node:fs/promises';
import { createReadStream, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { iso } from '../clock.js';
import type { Db } from '../store/database.js';
import { openCliDatabase } from './database.js';
import { readClip, readClips, type ClipRecord } from '../store/index.js';
import type { Config } from '../config.js';
import { configFrom, configOption, formatBytes, jsonOption, print, printJson, type Command } from './command.js';

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
  if (!id) throw new Error('a clip id is required (see `doorbell clips ls`)');
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
  usage: 'clips ls [--json] [--limit N] | clips show ID [--json] | clips export ID DEST',
  summary: 'list, inspect and copy out the recorded clips',
  options: { ...configOption, ...jsonOption, limit: { type: 'string' } },
  async run(args, flags) {
    const config = configFrom(flags);
    const [sub, id, dest] = args;
    if (sub === 'ls') {
      const limit = flags.limit ? Number(flags.limit) : 50;
      if (!Number.isInteger(limit) || limit < 1) throw new Error('--limit takes a positive whole number');
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
      if (!dest) throw new Error('usage: doorbell clips export ID DEST');
      const isDir = dest.endsWith('/') || (existsSync(dest) && (await stat(dest)).isDirectory());
      if (isDir) await mkdir(dest, { recursive: true });
      const target = isDir ? join(dest, `${clip.id}.mp4`) : dest;
      await copyFile(clip.path, target);
      const got = await sha256File(target);
      if (got !== clip.sha256) throw new Error(`copy of ${clip.id} does not match its recorded sha256 (${got} != ${clip.sha256})`);
      print(`${target}  ${formatBytes(clip.bytes)}  sha256 ${clip.sha256}`);
      return 0;
    }
    throw new Error(`usage: doorbell ${clips.usage}`);
  },
};

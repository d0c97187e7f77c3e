/** Read-only access for the CLI and `doorbell doctor`: no migrations, no recovery, no writes. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { Db } from './database.js';
import { isMissingFile } from './errors.js';
import { hashFileSync } from './fsync.js';
import { clipIdOfFile, clipPath, IDENTITY_FILE, layoutOf, TEMP_DIR } from './layout.js';
import { CLIP_COLUMNS, toClipRecord, type ClipRow } from './schema.js';
import type { ClipRecord } from './types.js';

function hasClipTables(db: Db): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'clips'").get() !== undefined;
}

/** Ready clips, newest first; empty when the store was never started on this database. */
export function readClips(db: Db, dir: string, opts: { limit?: number } = {}): ClipRecord[] {
  if (!hasClipTables(db)) return [];
  const limit = opts.limit ?? -1;
  const layout = layoutOf(dir);
  return db
    .prepare<[number], ClipRow>(`SELECT ${CLIP_COLUMNS} FROM clips WHERE state = 'ready' ORDER BY start_ms DESC LIMIT ?`)
    .all(limit)
    .map((r) => toClipRecord(r, layout));
}

export function readClip(db: Db, dir: string, id: string): ClipRecord | undefined {
  if (!hasClipTables(db)) return undefined;
  const row = db.prepare<[string], ClipRow>(`SELECT ${CLIP_COLUMNS} FROM clips WHERE id = ? AND state = 'ready'`).get(id);
  return row && toClipRecord(row, layoutOf(dir));
}

/**
 * Every way files and rows disagree, as sentences (empty = consistent). Reads and hashes every clip,
 * so it costs a full read of the store. `writing` rows are left alone: they are a store at work.
 */
export function checkStoreInvariants(db: Db, dir: string): string[] {
  const problems: string[] = [];
  const integrity = db.pragma('integrity_check') as { integrity_check: string }[];
  if (integrity.length !== 1 || integrity[0]?.integrity_check !== 'ok') {
    problems.push(`database integrity_check: ${integrity.map((r) => r.integrity_check).join('; ')}`);
  }
  const fkViolations = db.pragma('foreign_key_check') as unknown[];
  if (fkViolations.length > 0) problems.push(`database foreign_key_check: ${fkViolations.length} violations`);
  if (!hasClipTables(db)) return [...problems, 'the clip store was never started on this database'];

  const layout = layoutOf(dir);
  const storeId = db.prepare<[], { value: string }>("SELECT value FROM store_meta WHERE key = 'store_id'").get()?.value;
  const folderId = existsSync(layout.identity) ? readFileSync(layout.identity, 'utf8').trim() : undefined;
  if (storeId !== folderId) problems.push(`identity: database has ${storeId ?? 'none'}, folder has ${folderId ?? 'none'}`);

  const ready = db.prepare<[], { id: string; bytes: number; sha256: string }>(
    "SELECT id, bytes, sha256 FROM clips WHERE state = 'ready'",
  );
  for (const clip of ready.iterate()) {
    const path = clipPath(layout, clip.id);
    try {
      const size = statSync(path).size;
      if (size !== clip.bytes) {
        problems.push(`clip ${clip.id}: file is ${size} bytes, row says ${clip.bytes}`);
        continue;
      }
      const { sha256 } = hashFileSync(path);
      if (sha256 !== clip.sha256) problems.push(`clip ${clip.id}: file sha256 ${sha256}, row says ${clip.sha256}`);
    } catch (err) {
      problems.push(isMissingFile(err) ? `clip ${clip.id}: file ${path} is missing` : `clip ${clip.id}: ${String(err)}`);
    }
  }

  const known = db.prepare<{ id: string }, { id: string }>(
    'SELECT id FROM clips WHERE id = :id UNION ALL SELECT id FROM clip_garbage WHERE id = :id',
  );
  const entries = existsSync(layout.clips) ? readdirSync(layout.clips) : [];
  for (const name of entries) {
    if (name === TEMP_DIR || name === IDENTITY_FILE) continue;
    const id = clipIdOfFile(name);
    if (id === undefined || known.get({ id }) === undefined) problems.push(`stray file ${name} in ${layout.clips}: no row and not garbage`);
  }
  return problems;
}

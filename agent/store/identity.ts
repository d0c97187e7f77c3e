/**
 * The folder identity: a random UUID in `clips/.doorbell-store-id`, also kept in `store_meta`. A
 * database that does not know the folder's id must not judge its files (Frigate #7838 deleted
 * recordings because a fresh database found them "unknown").
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { isMissingFile } from './errors.js';
import { unlinkIfPresent, type StoreIo } from './fsync.js';
import { IDENTITY_FILE, TEMP_DIR, type StoreLayout } from './layout.js';
import { quarantine } from './quarantine.js';
import type { Statements } from './statements.js';

const IDENTITY_TEMP = IDENTITY_FILE + '.new';

export interface IdentityDeps {
  layout: StoreLayout;
  sql: Statements;
  io: StoreIo;
  clock: Clock;
  log: Logger;
}

/** Makes folder and database agree on one identity; writes nothing when they already do. */
export function ensureIdentity({ layout, sql, io, clock, log }: IdentityDeps): void {
  unlinkIfPresent(join(layout.clips, IDENTITY_TEMP));
  const dbId = sql.getStoreId.get()?.value;
  const folderId = readFolderId(layout);
  if (folderId !== undefined && folderId === dbId) return;

  if (folderId === undefined) {
    const id = dbId ?? randomUUID();
    if (dbId === undefined) sql.setStoreId.run(id);
    else {
      log.warn('clip folder had no identity file; wrote the database\'s one back', {
        dir: layout.clips,
        storeId: id,
        hint: 'if storage.dir is on a disk that is not mounted, stop the agent and mount it: clips recorded meanwhile land on the wrong disk',
      });
    }
    writeFolderId(layout, io, id);
    return;
  }

  // The identity file goes last, so a crash halfway leaves the mismatch to be found and finished next start.
  const names = readdirSync(layout.clips).filter((n) => n !== TEMP_DIR && n !== IDENTITY_FILE);
  const dest = quarantine(layout, [...names, IDENTITY_FILE], clock, io);
  const id = randomUUID();
  sql.setStoreId.run(id);
  writeFolderId(layout, io, id);
  log.warn('clip folder belongs to another database: moved its files to quarantine and started an empty store', {
    dir: layout.clips,
    folderStoreId: folderId,
    databaseStoreId: dbId ?? null,
    newStoreId: id,
    movedFiles: names.length,
    quarantine: dest,
    deleted: 0,
    hint:
      'nothing was deleted. If the database was lost or replaced, the old clips are in the quarantine folder: ' +
      'keep or delete them by hand. If storage.dir points at the wrong folder, stop the agent, fix storage.dir ' +
      'and move the files back.',
  });
}

/** The folder's id, undefined when it has none. An unreadable or malformed one counts as foreign. */
function readFolderId(layout: StoreLayout): string | undefined {
  try {
    return readFileSync(layout.identity, 'utf8').trim();
  } catch (err) {
    if (isMissingFile(err)) return undefined;
    throw err;
  }
}

/** Write-fsync-rename-fsync, so a crash never leaves a half-written identity. */
function writeFolderId(layout: StoreLayout, io: StoreIo, id: string): void {
  const temp = join(layout.clips, IDENTITY_TEMP);
  writeFileSync(temp, id + '\n', { flush: true });
  io.rename(temp, layout.identity);
  io.syncDir(layout.clips);
}

/**
 * Startup recovery: brings files and rows back to the invariants after any crash. Each step writes
 * only when it finds something to do, so a clean restart writes nothing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { hashFile, unlinkIfPresent, type StoreIo } from './fsync.js';
import { clipIdOfFile, clipPath, IDENTITY_FILE, TEMP_DIR, tempPath, type StoreLayout } from './layout.js';
import { quarantine } from './quarantine.js';
import type { Statements } from './statements.js';

export interface RecoveryDeps {
  layout: StoreLayout;
  sql: Statements;
  io: StoreIo;
  clock: Clock;
  log: Logger;
}

export interface RecoveryReport {
  garbageFinished: number;
  /** `writing` rows whose file had been renamed into place: marked ready. */
  writesCompleted: number;
  /** `writing` rows whose file never reached the folder: dropped with their temp file. */
  writesDropped: number;
  tempFilesRemoved: number;
  quarantined: number;
  /** `ready` rows whose file was gone (deleted by hand, or another folder): dropped. */
  missingFiles: number;
}

export async function recover(deps: RecoveryDeps): Promise<RecoveryReport> {
  const garbageFinished = finishGarbage(deps);
  const { writesCompleted, writesDropped } = await settleWrites(deps);
  const tempFilesRemoved = removeTempFiles(deps);
  const { quarantined, missingFiles } = reconcileFolder(deps);
  return { garbageFinished, writesCompleted, writesDropped, tempFilesRemoved, quarantined, missingFiles };
}

/** Completes deletes that crashed after their garbage row was committed. */
function finishGarbage({ layout, sql, io }: RecoveryDeps): number {
  const ids = sql.garbageIds.all().map((r) => r.id);
  if (ids.length === 0) return 0;
  for (const id of ids) unlinkIfPresent(clipPath(layout, id));
  io.syncDir(layout.clips);
  sql.dropGarbage(ids);
  return ids.length;
}

/**
 * A `writing` row whose final file exists crashed between rename and marking ready; the file was
 * fsynced before the rename, so its content is whole. Without a final file the write never finished.
 */
async function settleWrites({ layout, sql, io, log }: RecoveryDeps) {
  let writesCompleted = 0;
  let writesDropped = 0;
  for (const { id } of sql.writingIds.all()) {
    const final = clipPath(layout, id);
    if (existsSync(final)) {
      const { bytes, sha256 } = await hashFile(final);
      io.syncDir(layout.clips);
      sql.markReady.run(bytes, sha256, null, id);
      unlinkIfPresent(tempPath(layout, id));
      log.info('recovered a clip saved just before a crash (its thumbnail was lost)', { clipId: id, bytes });
      writesCompleted++;
    } else {
      unlinkIfPresent(tempPath(layout, id));
      sql.deleteWriting.run(id);
      writesDropped++;
    }
  }
  if (writesDropped > 0) log.warn('dropped clips that were still being written when the agent stopped', { clips: writesDropped });
  return { writesCompleted, writesDropped };
}

/** No writer runs during start, so anything left in the temp folder is an interrupted write. */
function removeTempFiles({ layout, log }: RecoveryDeps): number {
  let removed = 0;
  for (const entry of readdirSync(layout.temp, { withFileTypes: true })) {
    if (!entry.isFile()) {
      log.warn('left an unexpected entry in the clip temp folder alone', { path: join(layout.temp, entry.name) });
      continue;
    }
    unlinkIfPresent(join(layout.temp, entry.name));
    removed++;
  }
  return removed;
}

/** Files without a row go to quarantine; rows without a file are dropped. */
function reconcileFolder({ layout, sql, io, clock, log }: RecoveryDeps) {
  const readyIds = new Set(sql.readyIds.all().map((r) => r.id));
  const stray: string[] = [];
  const seen = new Set<string>();
  for (const name of readdirSync(layout.clips)) {
    if (name === TEMP_DIR || name === IDENTITY_FILE) continue;
    const id = clipIdOfFile(name);
    if (id !== undefined && readyIds.has(id)) seen.add(id);
    else stray.push(name);
  }
  if (stray.length > 0) {
    const dest = quarantine(layout, stray, clock, io);
    log.warn('moved files the database does not know out of the clip folder (nothing was deleted)', {
      files: stray.length,
      examples: stray.slice(0, 10),
      quarantine: dest,
      hint: 'look at them and delete them by hand if they are not needed',
    });
  }
  const missing = [...readyIds].filter((id) => !seen.has(id));
  if (missing.length > 0) {
    sql.dropReady(missing);
    log.error('clip files were missing from the clip folder: dropped their rows', {
      clips: missing.length,
      examples: missing.slice(0, 10),
      dir: layout.clips,
      hint: 'files in the clip folder must only be removed by the agent; check the disk if nobody deleted them',
    });
  }
  return { quarantined: stray.length, missingFiles: missing.length };
}

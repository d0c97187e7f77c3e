/** The health checks the watchdog feeds on. Each is cheap, synchronous and writes nothing. */
import { accessSync, constants } from 'node:fs';
import type { Db } from '../store/database.js';
import type { HealthCheck } from './watchdog.js';

export interface SegmentFreshnessOptions {
  /** When the newest pre-roll segment closed (capture's health().lastSegmentAt); null before the first. */
  lastSegmentAt: () => number | null;
  /** Longer than capture's own stall detection and restart backoff, so capture gets to recover first. */
  maxAgeMs: number;
  /** When capture started: the first segment gets maxAgeMs to arrive. */
  startedAt: number;
  now?: () => number;
}

export function segmentFreshness(opts: SegmentFreshnessOptions): HealthCheck {
  const now = opts.now ?? Date.now;
  return {
    name: 'capture',
    ok: () => {
      const last = opts.lastSegmentAt();
      const age = now() - (last ?? opts.startedAt);
      if (age <= opts.maxAgeMs) return true;
      const seconds = Math.round(age / 1000);
      return last === null
        ? `no video segment since capture started ${seconds} s ago`
        : `no new video segment for ${seconds} s (limit ${Math.round(opts.maxAgeMs / 1000)} s)`;
    },
  };
}

/**
 * The database can still take a write: its folder is writable (access() reports EROFS once ext4
 * remounts a failing SD card read-only) and the write lock can be taken (BEGIN IMMEDIATE; ROLLBACK,
 * which fails on a connection stuck in a transaction or a read-only file). Neither writes to the
 * card. SQLITE_BUSY means another connection is writing right now: writable, so healthy.
 */
export function databaseWritable(db: Db, dir: string): HealthCheck {
  return {
    name: 'database',
    ok: () => {
      if (!db.open) return 'the database is closed';
      try {
        accessSync(dir, constants.W_OK);
      } catch (err) {
        return `the store folder ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      }
      const timeout = db.pragma('busy_timeout', { simple: true }) as number;
      db.pragma('busy_timeout = 0'); // never block the event loop waiting for another writer
      try {
        db.exec('BEGIN IMMEDIATE');
        db.exec('ROLLBACK');
        return true;
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_BUSY') return true;
        return `cannot take the database write lock: ${(err as Error).message}`;
      } finally {
        db.pragma(`busy_timeout = ${timeout}`);
      }
    },
  };
}

/**
 * The clip store at scale (default 100 000 clips), through ClipStore itself with tiny files: insert
 * rate with full durability, window query, eviction, startup recovery, database size. Each against
 * the bare minimum on the same machine: a plain better-sqlite3 table of the same rows.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { newId } from '../../agent/ids.js';
import { silentLogger } from '../../agent/log.js';
import { openDatabase, type Db } from '../../agent/store/database.js';
import { ClipStore, type StoreIo } from '../../agent/store/index.js';
import { percentile, round } from './harness/stats.js';
import { row, type BenchContext, type BenchResult, type BenchRow } from './result.js';

export interface StoreScaleOptions {
  clips: number;
}

const CLIP_MS = 10_000;
const SPACING_MS = 20_000;
const FILE_BYTES = 1024;
const TIMED_INSERTS = 500;
const QUERIES = 50;
const EVICTIONS = 1000;

/** For filling only: durability steps off, so 100 000 clips take minutes, not hours. */
const noSync: Partial<StoreIo> = { syncFile: () => Promise.resolve(), syncDir: () => undefined };

function fileSizes(dir: string, prefix: string): number {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix))
    .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

function makeStore(db: Db, dir: string, io?: Partial<StoreIo>): ClipStore {
  return new ClipStore({ db, dir, maxBytes: Number.MAX_SAFE_INTEGER, maxAgeDays: 3650, clock: { now: () => Date.now() }, log: silentLogger, ...(io ? { io } : {}) });
}

async function addClip(store: ClipStore, start: number, n: number): Promise<void> {
  const id = newId(start);
  const temp = store.begin({ id, start, end: start + CLIP_MS, kind: 'ring', source: 'button', triggeredAt: start });
  const body = Buffer.alloc(FILE_BYTES, n % 251);
  body.writeUInt32BE(n, 0); // every file differs, as clips do
  writeFileSync(temp, body);
  await store.commit(id, null);
}

/** The same rows in a plain table with one index, inserted one per transaction with the same durability. */
function bareTable(file: string, count: number, firstStart: number): { db: Db; insertsPerSecond: number } {
  const db = openDatabase(file);
  db.exec(`CREATE TABLE clips (id TEXT PRIMARY KEY, start_ms INTEGER, end_ms INTEGER, kind TEXT, source TEXT,
           triggered_at INTEGER, created_at INTEGER, bytes INTEGER, sha256 TEXT);
           CREATE INDEX clips_by_start ON clips (start_ms)`);
  const insert = db.prepare('INSERT INTO clips VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const put = (i: number): void => {
    const start = firstStart + i * SPACING_MS;
    insert.run(newId(start), start, start + CLIP_MS, 'ring', 'button', start, start, FILE_BYTES, 'f'.repeat(64));
  };
  db.pragma('synchronous = OFF');
  db.transaction(() => {
    for (let i = 0; i < count; i++) put(i);
  })();
  db.pragma('synchronous = FULL');
  const began = performance.now();
  for (let i = count; i < count + TIMED_INSERTS; i++) put(i);
  return { db, insertsPerSecond: TIMED_INSERTS / ((performance.now() - began) / 1000) };
}

function timeQueries(run: (from: number, to: number) => unknown, newest: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    // A one-hour window at a random point of the last 30 days, like a request for an incident.
    const to = newest - Math.floor(Math.random() * 30 * 86_400_000);
    const began = performance.now();
    run(to - 3_600_000, to);
    times.push(performance.now() - began);
  }
  return times;
}

export async function benchStoreScale(opts: StoreScaleOptions, ctx: BenchContext): Promise<BenchResult> {
  const dir = await mkdtemp(join(ctx.workDir, 'store-'));
  const dbFile = join(dir, 'doorbell.db');
  const total = opts.clips + TIMED_INSERTS;
  const firstStart = Date.now() - total * SPACING_MS;
  const raw: Record<string, unknown> = {};
  try {
    ctx.progress(`store: filling ${opts.clips} clips`);
    let db = openDatabase(dbFile);
    db.pragma('synchronous = OFF');
    let store = makeStore(db, dir, noSync);
    await store.start();
    const fillBegan = performance.now();
    for (let i = 0; i < opts.clips; i++) {
      await addClip(store, firstStart + i * SPACING_MS, i);
      if (i > 0 && i % 20_000 === 0) ctx.progress(`store: ${i} clips`);
    }
    raw.fillSeconds = (performance.now() - fillBegan) / 1000;
    store.stop();
    db.close();

    ctx.progress(`store: ${TIMED_INSERTS} inserts with full durability at ${opts.clips} clips`);
    db = openDatabase(dbFile);
    store = makeStore(db, dir);
    await store.start();
    let began = performance.now();
    for (let i = opts.clips; i < total; i++) await addClip(store, firstStart + i * SPACING_MS, i);
    const insertsPerSecond = TIMED_INSERTS / ((performance.now() - began) / 1000);

    const newest = firstStart + total * SPACING_MS;
    const queryMs = timeQueries((from, to) => store.overlapping(from, to), newest);

    ctx.progress(`store: evicting ${EVICTIONS} clips`);
    const usage = store.usage();
    began = performance.now();
    const evicted = store.evictUntilFits(Number.MAX_SAFE_INTEGER - usage.usedBytes + EVICTIONS * FILE_BYTES);
    const evictMs = performance.now() - began;
    store.stop();
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const dbBytes = fileSizes(dir, 'doorbell.db');
    const clipsLeft = total - evicted;

    ctx.progress('store: startup recovery');
    began = performance.now();
    db = openDatabase(dbFile);
    store = makeStore(db, dir);
    await store.start();
    const startMs = performance.now() - began;
    store.stop();
    db.close();

    ctx.progress('store: bare better-sqlite3 baseline');
    const bareFile = join(dir, 'bare.db');
    const bare = bareTable(bareFile, opts.clips, firstStart);
    const bareQueryMs = timeQueries(
      (from, to) => bare.db.prepare('SELECT * FROM clips WHERE start_ms <= ? AND end_ms >= ? ORDER BY start_ms').all(to, from),
      newest,
    );
    const oldest = bare.db.prepare('SELECT id FROM clips ORDER BY start_ms LIMIT ?').all(EVICTIONS) as { id: string }[];
    const del = bare.db.prepare('DELETE FROM clips WHERE id = ?');
    began = performance.now();
    bare.db.transaction(() => oldest.forEach((r) => del.run(r.id)))();
    const bareEvictMs = performance.now() - began;
    bare.db.pragma('wal_checkpoint(TRUNCATE)');
    bare.db.close();
    const bareBytes = fileSizes(dir, 'bare.db');
    began = performance.now();
    const check = openDatabase(bareFile);
    check.prepare('SELECT COUNT(*) FROM clips').get();
    readdirSync(join(dir, 'clips'));
    check.close();
    const bareStartMs = performance.now() - began;

    Object.assign(raw, { insertsPerSecond, queryMs, evicted, evictMs, dbBytes, startMs, bare: { ...bare, db: undefined, bareQueryMs, bareEvictMs, bareBytes, bareStartMs } });
    const n = `${opts.clips.toLocaleString('en')} clips`;
    const bareName = 'bare better-sqlite3 table';
    const rows: BenchRow[] = [
      row(`Store at ${n}: insert (write, fsync, rename, index)`, 'rate', round(insertsPerSecond), 'clips/s', { name: `${bareName}, one INSERT per commit`, value: round(bare.insertsPerSecond) }),
      row(`Store at ${n}: one-hour window query`, 'p50', round(percentile(queryMs, 50), 3), 'ms', { name: `${bareName}, index on start`, value: round(percentile(bareQueryMs, 50), 3) }),
      row(`Store at ${n}: eviction`, `${evicted} clips`, round(evictMs), 'ms', { name: `${bareName}, DELETE only (no files)`, value: round(bareEvictMs, 2) }),
      row(`Store at ${n}: startup with recovery`, 'time', round(startMs), 'ms', { name: 'COUNT(*) + readdir of the clip folder', value: round(bareStartMs) }),
      row(`Store at ${n}: database size`, 'per clip', round(dbBytes / clipsLeft), 'B', { name: bareName, value: round(bareBytes / (total - EVICTIONS)) }, `${round(dbBytes / 1024 / 1024)} MiB in all`),
    ];
    return {
      name: 'store-scale',
      rows,
      notes: [
        `Store: ${n} of ${FILE_BYTES} B files and no thumbnails (a real clip row also carries its JPEG thumbnail, 6–24 KiB), filled through ClipStore with fsync off (${round(raw.fillSeconds as number)} s), then measured with the store's real durability (fsync of file and folder, SQLite WAL synchronous=FULL).`,
      ],
      raw,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

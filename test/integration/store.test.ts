import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../agent/clock.js';
import { newId } from '../../agent/ids.js';
import { createLogger, type Logger } from '../../agent/log.js';
import { openDatabase, type Db } from '../../agent/store/database.js';
import {
  checkStoreInvariants,
  ClipStore,
  readClip,
  readClips,
  StoreError,
  type ClipRecord,
  type EvictReason,
  type StoreIo,
} from '../../agent/store/index.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 22, 14, 0, 0);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(300)]);

interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

class FakeClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

interface Harness {
  dir: string;
  db: Db;
  store: ClipStore;
  clock: FakeClock;
  lines: LogLine[];
  evicted: { id: string; reason: EvictReason }[];
  close(): void;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  vi.useRealTimers();
  while (cleanups.length) cleanups.pop()!();
});

function tempStorage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'store-test-'));
  cleanups.unshift(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function capturingLogger(lines: LogLine[]): Logger {
  return createLogger({ level: 'debug', sink: { write: (line) => void lines.push(JSON.parse(line) as LogLine) } });
}

async function openStore(
  dir: string,
  opts: { maxBytes?: number; maxAgeDays?: number; clock?: FakeClock; io?: Partial<StoreIo>; dbFile?: string } = {},
): Promise<Harness> {
  const db = openDatabase(opts.dbFile ?? join(dir, 'doorbell.db'));
  const lines: LogLine[] = [];
  const evicted: Harness['evicted'] = [];
  const clock = opts.clock ?? new FakeClock(T0);
  const store = new ClipStore({
    db,
    dir,
    maxBytes: opts.maxBytes ?? 10_000_000,
    maxAgeDays: opts.maxAgeDays ?? 30,
    clock,
    log: capturingLogger(lines),
    onEvict: (clip, reason) => evicted.push({ id: clip.id, reason }),
    ...(opts.io ? { io: opts.io } : {}),
  });
  const close = (): void => {
    store.stop();
    if (db.open) db.close();
  };
  cleanups.push(close);
  await store.start();
  return { dir, db, store, clock, lines, evicted, close };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function addClip(
  h: Harness,
  bytes: number,
  start = h.clock.now(),
  thumbnail: Buffer | null = JPEG,
): Promise<{ clip: ClipRecord; content: Buffer }> {
  const id = newId(start);
  const temp = h.store.begin({ id, start, end: start + 8_000, kind: 'ring', source: 'button', triggeredAt: start + 5_000 });
  const content = randomBytes(bytes);
  writeFileSync(temp, content);
  return { clip: await h.store.commit(id, thumbnail), content };
}

function beginClip(h: Harness, start = h.clock.now()): { id: string; temp: string } {
  const id = newId(start);
  return { id, temp: h.store.begin({ id, start, end: start + 8_000, kind: 'motion', source: 'pir', triggeredAt: start }) };
}

const ids = (clips: ClipRecord[]): string[] => clips.map((c) => c.id);
const rowCount = (db: Db, id: string): number =>
  (db.prepare('SELECT COUNT(*) AS n FROM clips WHERE id = ?').get(id) as { n: number }).n;
const quarantined = (dir: string): string[] =>
  existsSync(join(dir, 'quarantine'))
    ? readdirSync(join(dir, 'quarantine')).flatMap((d) => readdirSync(join(dir, 'quarantine', d)).map((f) => join(d, f)))
    : [];

describe('ClipStore create procedure', () => {
  it('commit records the size and sha256 of the file and moves it into clips/', async () => {
    const h = await openStore(tempStorage());
    // Larger than the hashing chunk, so streaming across chunks is exercised.
    const { clip, content } = await addClip(h, 600_000);

    expect(clip.bytes).toBe(600_000);
    expect(clip.sha256).toBe(sha256(content));
    expect(clip.path).toBe(join(h.dir, 'clips', `${clip.id}.mp4`));
    expect(readFileSync(clip.path).equals(content)).toBe(true);
    expect(clip.thumbnail?.equals(JPEG)).toBe(true);
    expect(readdirSync(join(h.dir, 'clips', '.tmp'))).toEqual([]);
    expect(h.store.get(clip.id)).toEqual(clip);
    expect(readClip(h.db, h.dir, clip.id)).toEqual(clip);
    expect(readClips(h.db, h.dir)).toEqual([clip]);
    expect(h.store.usage()).toEqual({ usedBytes: 600_000, capBytes: 10_000_000, clips: 1, oldest: T0 });
    expect(checkStoreInvariants(h.db, h.dir)).toEqual([]);
  });

  it('keeps the clip but drops a thumbnail that is not a JPEG of at most 24 KiB', async () => {
    const h = await openStore(tempStorage());
    const big = Buffer.concat([JPEG, Buffer.alloc(25 * 1024)]);
    const { clip } = await addClip(h, 1_000, T0, big);
    expect(clip.thumbnail).toBeNull();
    expect(h.store.get(clip.id)?.bytes).toBe(1_000);
    expect(h.lines.some((l) => l.level === 'warn' && l.msg.startsWith('thumbnail dropped'))).toBe(true);
  });

  it('abort removes the temp file and the row; a clip id that could escape the folder is refused', async () => {
    const h = await openStore(tempStorage());
    const { id, temp } = beginClip(h);
    writeFileSync(temp, randomBytes(100));
    h.store.abort(id);
    expect(existsSync(temp)).toBe(false);
    expect(rowCount(h.db, id)).toBe(0);
    await expect(h.store.commit(id, null)).rejects.toMatchObject({ kind: 'not-found' });

    const bad = { id: '../escape', start: T0, end: T0, kind: 'ring', source: 'button', triggeredAt: T0 } as const;
    expect(() => h.store.begin(bad)).toThrow(/invalid clip id/);
    expect(() => h.store.begin({ ...bad, id: 'ok', end: T0 - 1 })).toThrow(/before start/);
    expect(rowCount(h.db, 'ok')).toBe(0);
    const { id: dup } = beginClip(h);
    expect(() => h.store.begin({ ...bad, id: dup })).toThrow(/already in the store/);
  });

  it('a full disk during commit throws kind disk-full and leaves the store consistent', async () => {
    const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    for (const step of ['syncFile', 'rename'] as const) {
      let full = false;
      const io: Partial<StoreIo> = {
        syncFile: async () => {
          if (full && step === 'syncFile') throw enospc();
        },
        rename: (from, to) => {
          if (full && step === 'rename') throw enospc();
          renameSync(from, to);
        },
      };
      const h = await openStore(tempStorage(), { io });
      const { clip: kept } = await addClip(h, 2_000);
      full = true;
      const { id, temp } = beginClip(h);
      writeFileSync(temp, randomBytes(5_000));
      const err = await h.store.commit(id, null).catch((e: unknown) => e);

      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).kind).toBe('disk-full');
      expect((err as StoreError).message).toMatch(/full.*storage\.maxBytes/);
      expect(existsSync(temp)).toBe(false);
      expect(existsSync(join(h.dir, 'clips', `${id}.mp4`))).toBe(false);
      expect(rowCount(h.db, id)).toBe(0);
      expect(ids(h.store.list())).toEqual([kept.id]);
      expect(checkStoreInvariants(h.db, h.dir)).toEqual([]);

      full = false;
      await addClip(h, 1_000);
      expect(h.store.usage().clips).toBe(2);
    }
  });
});

describe('ClipStore ring buffer', () => {
  it('evicts the oldest clips by start time first and stays under maxBytes', async () => {
    const h = await openStore(tempStorage(), { maxBytes: 1_000 });
    const a = (await addClip(h, 300, T0 + 3_000)).clip;
    const b = (await addClip(h, 300, T0 + 1_000)).clip;
    const c = (await addClip(h, 300, T0 + 2_000)).clip;
    const d = (await addClip(h, 300, T0 + 4_000)).clip;
    expect(h.evicted).toEqual([{ id: b.id, reason: 'space' }]);
    expect(h.store.usage().usedBytes).toBe(900);

    const e = (await addClip(h, 650, T0 + 5_000)).clip;
    expect(h.evicted.map((x) => x.id)).toEqual([b.id, c.id, a.id]);
    expect(ids(h.store.list())).toEqual([e.id, d.id]);
    expect(h.store.usage().usedBytes).toBe(950);
    for (const gone of [a, b, c]) expect(existsSync(gone.path)).toBe(false);
    expect(checkStoreInvariants(h.db, h.dir)).toEqual([]);
  });

  it('never evicts a held clip, stores a new clip over the cap when holds demand it, and release makes clips evictable', async () => {
    const h = await openStore(tempStorage(), { maxBytes: 1_000 });
    const add = async (offset: number) => (await addClip(h, 300, T0 + offset)).clip;
    const a = await add(1_000);
    const b = await add(2_000);
    const c = await add(3_000);
    h.store.hold('request:rfa-1', [a.id]);
    const d = await add(4_000);
    const e = await add(5_000);
    expect(h.evicted.map((x) => x.id)).toEqual([b.id, c.id]);
    expect(h.store.holdersOf(a.id)).toEqual(['request:rfa-1']);

    h.store.hold('request:rfa-2', [d.id, e.id]);
    h.store.hold('request:rfa-3', [a.id]);
    const f = await add(6_000);
    expect(ids(h.store.list())).toEqual([f.id, e.id, d.id, a.id]);
    expect(h.store.usage().usedBytes).toBe(1_200);
    expect(h.lines.some((l) => l.level === 'warn' && l.msg === 'storage is over its cap because of held clips')).toBe(true);
    expect(h.store.heldClipIds()).toEqual(new Set([a.id, d.id, e.id]));
    expect(() => h.store.remove(a.id)).toThrow(expect.objectContaining({ kind: 'held' }));

    h.store.release('request:rfa-1');
    expect(h.store.holdersOf(a.id)).toEqual(['request:rfa-3']);
    h.store.release('request:rfa-3');
    const g = await add(7_000);
    expect(h.evicted.map((x) => x.id).slice(2)).toEqual([a.id, f.id]);
    expect(ids(h.store.list())).toEqual([g.id, e.id, d.id]);
    expect(h.store.usage().usedBytes).toBe(900);
    expect(checkStoreInvariants(h.db, h.dir)).toEqual([]);
  });

  it('holding an unknown clip throws and holds nothing', async () => {
    const h = await openStore(tempStorage());
    const { clip } = await addClip(h, 100);
    expect(() => h.store.hold('request:rfa-9', [clip.id, 'NOPE'])).toThrow(/cannot hold clip "NOPE"/);
    expect(h.store.heldClipIds().size).toBe(0);
    expect(() => h.store.remove('NOPE')).toThrow(expect.objectContaining({ kind: 'not-found' }));
  });

  it('remove() deletes the file and the row', async () => {
    const h = await openStore(tempStorage());
    const { clip } = await addClip(h, 100);
    h.store.remove(clip.id);
    expect(existsSync(clip.path)).toBe(false);
    expect(rowCount(h.db, clip.id)).toBe(0);
    expect(h.db.prepare('SELECT COUNT(*) AS n FROM clip_garbage').get()).toEqual({ n: 0 });
    expect(h.evicted).toEqual([]);
  });

  it('evicts clips older than maxAgeDays after a commit and on the hourly timer, except held ones', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const h = await openStore(tempStorage(), { maxAgeDays: 2 });
    const old = (await addClip(h, 100, T0)).clip;
    const heldOld = (await addClip(h, 100, T0 + 1_000)).clip;
    const recent = (await addClip(h, 100, T0 + DAY)).clip;
    h.store.hold('request:rfa-1', [heldOld.id]);

    h.clock.t = T0 + 2 * DAY + 5_000;
    const fresh = (await addClip(h, 100)).clip;
    expect(h.evicted).toEqual([{ id: old.id, reason: 'age' }]);
    expect(h.store.evictExpired()).toBe(0);

    h.store.release('request:rfa-1');
    h.clock.t = T0 + 3 * DAY + 5_000;
    vi.advanceTimersByTime(3_600_000);
    expect(h.evicted.map((x) => x.id)).toEqual([old.id, heldOld.id, recent.id]);
    expect(ids(h.store.list())).toEqual([fresh.id]);
    expect(checkStoreInvariants(h.db, h.dir)).toEqual([]);
  });

  it('overlapping() includes clips that touch the window at either end, oldest first', async () => {
    const h = await openStore(tempStorage(), { clock: new FakeClock(10_000) });
    const make = async (start: number, end: number): Promise<string> => {
      const id = newId(start);
      writeFileSync(h.store.begin({ id, start, end, kind: 'ring', source: 'manual', triggeredAt: start }), randomBytes(10));
      return (await h.store.commit(id, null)).id;
    };
    const first = await make(1_000, 2_000);
    const third = await make(3_000, 4_000);
    const second = await make(2_500, 2_600);

    expect(ids(h.store.overlapping(2_000, 2_000))).toEqual([first]);
    expect(ids(h.store.overlapping(0, 1_000))).toEqual([first]);
    expect(ids(h.store.overlapping(2_001, 2_499))).toEqual([]);
    expect(ids(h.store.overlapping(1_999, 3_000))).toEqual([first, second, third]);
    expect(ids(h.store.overlapping(4_000, 9_000))).toEqual([third]);
    expect(ids(h.store.overlapping(4_001, 9_000))).toEqual([]);
    expect(() => h.store.overlapping(5, 4)).toThrow(RangeError);
    const { id: writing } = beginClip(h, 1_500);
    expect(ids(h.store.overlapping(0, 9_000))).not.toContain(writing);
  });

  it('an idle store writes nothing: evictExpired that finds nothing leaves the database and WAL untouched', async () => {
    const h = await openStore(tempStorage(), { maxAgeDays: 1 });
    await addClip(h, 1_000);
    const dbFile = join(h.dir, 'doorbell.db');
    const snapshot = () =>
      [dbFile, `${dbFile}-wal`].map((f) => {
        const s = statSync(f);
        return { f, size: s.size, mtime: s.mtimeMs };
      });
    const before = snapshot();
    expect(before[1]!.size).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 20));

    expect(h.store.evictExpired()).toBe(0);
    expect(h.store.evictUntilFits(0)).toBe(0);
    h.store.usage();
    h.store.list();
    h.store.overlapping(0, T0);
    expect(snapshot()).toEqual(before);
  });
});

describe('ClipStore identity and recovery', () => {
  it('a new empty database next to existing clips quarantines them and deletes nothing', async () => {
    const dir = tempStorage();
    const first = await openStore(dir);
    const clips = [(await addClip(first, 1_000)).content, (await addClip(first, 2_000)).content];
    const oldIdentity = readFileSync(join(dir, 'clips', '.doorbell-store-id'), 'utf8');
    first.close();

    const second = await openStore(dir, { dbFile: join(dir, 'replacement.db') });
    expect(second.store.usage().clips).toBe(0);
    expect(readdirSync(join(dir, 'clips')).sort()).toEqual(['.doorbell-store-id', '.tmp']);
    const moved = quarantined(dir);
    expect(moved).toHaveLength(3);
    const movedClips = moved.filter((f) => f.endsWith('.mp4')).map((f) => readFileSync(join(dir, 'quarantine', f)));
    expect(movedClips.map(sha256).sort()).toEqual(clips.map(sha256).sort());
    expect(readFileSync(join(dir, 'quarantine', moved.find((f) => f.endsWith('.doorbell-store-id'))!), 'utf8')).toBe(oldIdentity);

    const newIdentity = readFileSync(join(dir, 'clips', '.doorbell-store-id'), 'utf8').trim();
    expect(newIdentity).not.toBe(oldIdentity.trim());
    expect(second.db.prepare("SELECT value FROM store_meta WHERE key = 'store_id'").get()).toEqual({ value: newIdentity });
    const warning = second.lines.find((l) => l.level === 'warn' && l.msg.startsWith('clip folder belongs to another database'));
    expect(warning).toMatchObject({ movedFiles: 2, deleted: 0, databaseStoreId: null });
    expect(checkStoreInvariants(second.db, dir)).toEqual([]);

    // The first database no longer matches either: reopening it quarantines the new folder's files too.
    await addClip(second, 500);
    second.close();
    const third = await openStore(dir);
    expect(third.store.usage().clips).toBe(0);
    expect(quarantined(dir).filter((f) => f.endsWith('.mp4'))).toHaveLength(3);
    expect(third.lines.some((l) => l.level === 'error' && l.msg.startsWith('clip files were missing'))).toBe(true);
    expect(checkStoreInvariants(third.db, dir)).toEqual([]);
  });

  it('startup recovery resolves every crash point and a clean restart changes nothing', async () => {
    const dir = tempStorage();
    const h = await openStore(dir);
    const kept = await addClip(h, 1_000);
    const deleting = (await addClip(h, 1_000)).clip;
    const lostFile = (await addClip(h, 1_000)).clip;

    // Crash after rename, before the row was marked ready.
    const renamed = beginClip(h);
    const renamedContent = randomBytes(3_000);
    writeFileSync(renamed.temp, renamedContent);
    renameSync(renamed.temp, join(dir, 'clips', `${renamed.id}.mp4`));
    // Crash mid-write, and crash before the writer created its file.
    const halfWritten = beginClip(h);
    writeFileSync(halfWritten.temp, randomBytes(700));
    const neverWritten = beginClip(h);
    // A temp file nobody knows, and files in the clip folder nobody knows.
    writeFileSync(join(dir, 'clips', '.tmp', 'leftover.mp4'), randomBytes(10));
    const strayClip = randomBytes(400);
    writeFileSync(join(dir, 'clips', '01STRAYCLIP.mp4'), strayClip);
    writeFileSync(join(dir, 'clips', 'notes.txt'), 'mine');
    // Crash after the delete transaction, before the unlink.
    h.db.transaction(() => {
      h.db.prepare('DELETE FROM clips WHERE id = ?').run(deleting.id);
      h.db.prepare('INSERT INTO clip_garbage (id) VALUES (?)').run(deleting.id);
    })();
    // A file removed behind the store's back.
    unlinkSync(lostFile.path);
    h.close();

    const r = await openStore(dir);
    const recovered = r.store.get(renamed.id);
    expect(recovered).toMatchObject({ bytes: 3_000, sha256: sha256(renamedContent), thumbnail: null });
    for (const id of [halfWritten.id, neverWritten.id, deleting.id, lostFile.id]) expect(rowCount(r.db, id)).toBe(0);
    expect(readdirSync(join(dir, 'clips', '.tmp'))).toEqual([]);
    expect(existsSync(deleting.path)).toBe(false);
    expect(r.db.prepare('SELECT COUNT(*) AS n FROM clip_garbage').get()).toEqual({ n: 0 });
    const moved = quarantined(dir);
    expect(moved.map((f) => f.split('/')[1]).sort()).toEqual(['01STRAYCLIP.mp4', 'notes.txt']);
    expect(readFileSync(join(dir, 'quarantine', moved.find((f) => f.endsWith('01STRAYCLIP.mp4'))!)).equals(strayClip)).toBe(true);
    expect(readFileSync(kept.clip.path).equals(kept.content)).toBe(true);
    expect(ids(r.store.list())).toEqual(expect.arrayContaining([kept.clip.id, renamed.id]));
    expect(r.store.usage().clips).toBe(2);
    expect(r.db.prepare("SELECT COUNT(*) AS n FROM clips WHERE state = 'writing'").get()).toEqual({ n: 0 });
    expect(checkStoreInvariants(r.db, dir)).toEqual([]);
    r.close();

    const again = await openStore(dir);
    expect(again.lines.find((l) => l.msg === 'clip store started')).toMatchObject({
      recovery: { garbageFinished: 0, writesCompleted: 0, writesDropped: 0, tempFilesRemoved: 0, quarantined: 0, missingFiles: 0 },
    });
    expect(quarantined(dir)).toHaveLength(2);
  });

  it('checkStoreInvariants reports a file whose content no longer matches its row, and a stray file', async () => {
    const h = await openStore(tempStorage());
    const { clip } = await addClip(h, 1_000);
    writeFileSync(clip.path, randomBytes(1_000));
    writeFileSync(join(h.dir, 'clips', 'other.mp4'), 'x');
    expect(checkStoreInvariants(h.db, h.dir)).toEqual([
      expect.stringContaining(`clip ${clip.id}: file sha256`),
      expect.stringContaining('stray file other.mp4'),
    ]);
  });
});

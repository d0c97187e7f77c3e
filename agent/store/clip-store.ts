/**
 * The clip store: MP4 files under `<storage.dir>/clips/`, indexed in SQLite, bounded like a ring by
 * bytes and age. The procedures and why each step is where it is: docs/design/store.md.
 */
import { mkdirSync } from 'node:fs';
import type { Clock } from '../clock.js';
import type { TriggerKind, TriggerSource } from '../events.js';
import type { Logger } from '../log.js';
import { migrate, type Db } from './database.js';
import { errorKindOf, StoreError } from './errors.js';
import { hashFile, nodeIo, unlinkIfPresent, type StoreIo } from './fsync.js';
import { ensureIdentity } from './identity.js';
import { assertClipId, clipPath, layoutOf, tempPath, type StoreLayout } from './layout.js';
import { recover } from './recovery.js';
import { CLIP_MIGRATIONS, CLIPS_COMPONENT, toClipRecord, type ClipRow } from './schema.js';
import { prepareStatements, type Statements } from './statements.js';
import type { ClipRecord, EvictReason, NewClip, StoreUsage } from './types.js';

const DAY_MS = 86_400_000;
const EXPIRY_CHECK_MS = 3_600_000;
const MAX_THUMBNAIL_BYTES = 24 * 1024;
const EVICTION_BATCH = 32;
const DEFAULT_LIST_LIMIT = 100;
const TRIGGER_KINDS: readonly string[] = ['ring', 'motion'] satisfies TriggerKind[];
const TRIGGER_SOURCES: readonly string[] = ['button', 'pir', 'video', 'onvif', 'manual'] satisfies TriggerSource[];

export interface ClipStoreDeps {
  db: Db;
  /** `storage.dir`: clips go to `<dir>/clips/`, refused files to `<dir>/quarantine/`. */
  dir: string;
  maxBytes: number;
  maxAgeDays: number;
  clock: Clock;
  log: Logger;
  /** Told about every clip the ring drops, for the audit log. */
  onEvict?: (clip: ClipRecord, reason: EvictReason) => void;
  /** The durability steps; a test replaces one to fail like a full disk. */
  io?: Partial<StoreIo>;
}

interface Running {
  sql: Statements;
  layout: StoreLayout;
  io: StoreIo;
}

export class ClipStore {
  private running: Running | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly committing = new Set<string>();

  constructor(private readonly deps: ClipStoreDeps) {}

  /** Migrations, identity check, crash recovery, eviction, then the hourly age check. */
  async start(): Promise<void> {
    if (this.running) throw new Error('ClipStore.start() called twice');
    const { db, dir, maxBytes, maxAgeDays, clock, log } = this.deps;
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new RangeError(`storage.maxBytes must be a positive whole number of bytes, got ${maxBytes}`);
    }
    if (!(maxAgeDays > 0)) throw new RangeError(`storage.maxAgeDays must be above 0, got ${maxAgeDays}`);
    const began = performance.now();
    migrate(db, CLIPS_COMPONENT, CLIP_MIGRATIONS);
    const layout = layoutOf(dir);
    const io: StoreIo = { ...nodeIo, ...this.deps.io };
    makeFolders(layout, io);
    const sql = prepareStatements(db);
    ensureIdentity({ layout, sql, io, clock, log });
    const recovery = await recover({ layout, sql, io, clock, log });
    this.running = { sql, layout, io };
    try {
      this.evictUntilFits(0);
      this.evictExpired();
    } catch (err) {
      this.running = undefined;
      throw this.failure(err, 'the clip store could not start');
    }
    this.timer = setInterval(() => this.expireOnTimer(), EXPIRY_CHECK_MS);
    this.timer.unref();
    log.info('clip store started', { dir: layout.clips, ...this.usage(), recovery, ms: Math.round(performance.now() - began) });
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.running = undefined;
  }

  /** Step 1 of the create procedure: records the clip as `writing` and returns where to write it. */
  begin(clip: NewClip): string {
    const { sql, layout } = this.require();
    validateNewClip(clip);
    try {
      sql.insertWriting.run(clip.id, clip.start, clip.end, clip.kind, clip.source, clip.triggeredAt, this.deps.clock.now());
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new Error(`clip id ${clip.id} is already in the store`);
      }
      throw this.failure(err, `clip ${clip.id} could not be recorded`);
    }
    return tempPath(layout, clip.id);
  }

  /**
   * Step 3: hash, fsync, evict until it fits, rename into place, fsync the folder, mark ready. On any
   * failure the temp file and the row are removed and a StoreError says why (kind `disk-full` for ENOSPC).
   */
  async commit(id: string, thumbnail: Buffer | null): Promise<ClipRecord> {
    const running = this.require();
    assertClipId(id);
    if (this.committing.has(id)) throw new Error(`clip ${id} is already being committed`);
    if (!running.sql.isWriting.get(id)) {
      throw new StoreError('not-found', `cannot commit clip ${id}: no clip is being written under that id (call begin() first)`);
    }
    this.committing.add(id);
    let record: ClipRecord;
    try {
      record = await this.save(running, id, thumbnail);
    } catch (err) {
      this.discard(running, id);
      throw this.failure(err, `clip ${id} was not saved and has been discarded`);
    } finally {
      this.committing.delete(id);
    }
    this.expireQuietly();
    return record;
  }

  /** The writer failed: its temp file and row go. Ids with nothing being written are left as they are. */
  abort(id: string): void {
    const { sql, layout } = this.require();
    assertClipId(id);
    if (this.committing.has(id)) throw new Error(`cannot abort clip ${id}: it is being committed`);
    unlinkIfPresent(tempPath(layout, id));
    sql.deleteWriting.run(id);
  }

  get(id: string): ClipRecord | undefined {
    const { sql, layout } = this.require();
    const row = sql.getReady.get(id);
    return row && toClipRecord(row, layout);
  }

  /** Ready clips, newest first. */
  list(opts: { limit?: number; before?: number } = {}): ClipRecord[] {
    const { sql, layout } = this.require();
    const limit = opts.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`list limit must be a positive integer, got ${limit}`);
    return sql.listBefore.all(opts.before ?? Number.MAX_SAFE_INTEGER, limit).map((r) => toClipRecord(r, layout));
  }

  /** Ready clips with `start <= to && end >= from`, oldest first. */
  overlapping(from: number, to: number): ClipRecord[] {
    const { sql, layout } = this.require();
    if (from > to) throw new RangeError(`window from ${from} is after to ${to}`);
    return sql.overlapping.all({ from, to }).map((r) => toClipRecord(r, layout));
  }

  /** Keeps clips from eviction and removal until `release(holder)`. All or none: an unknown id throws. */
  hold(holder: string, clipIds: string[]): void {
    const { sql } = this.require();
    if (typeof holder !== 'string' || holder.length === 0) {
      throw new TypeError(`invalid holder ${JSON.stringify(holder)}: expected a name such as "request:rfa-1"`);
    }
    sql.holdAll(holder, clipIds, (id) => {
      if (!sql.isReady.get(id)) {
        throw new StoreError('not-found', `cannot hold clip ${JSON.stringify(id)} for ${holder}: no such clip in the store`);
      }
    });
  }

  release(holder: string): void {
    this.require().sql.releaseHolder.run(holder);
  }

  /** Bytes of the clips held now plus `clipIds` (each counted once): what holding them would keep. */
  heldBytesWith(clipIds: string[]): number {
    return this.require().sql.heldBytesWith.get(JSON.stringify(clipIds))!.used;
  }

  heldClipIds(): Set<string> {
    return new Set(this.require().sql.heldIds.all().map((r) => r.clip_id));
  }

  holdersOf(clipId: string): string[] {
    return this.require().sql.holdersOf.all(clipId).map((r) => r.holder);
  }

  usage(): StoreUsage {
    const u = this.require().sql.usage.get()!;
    return { usedBytes: u.used, capBytes: this.deps.maxBytes, clips: u.clips, oldest: u.oldest };
  }

  /**
   * Evicts the oldest clips that are not held until `bytes` more fit under maxBytes. When held clips
   * make that impossible it stops and warns: the new clip is stored anyway, a ring is never lost.
   */
  evictUntilFits(bytes: number): number {
    const { sql } = this.require();
    const cap = this.deps.maxBytes;
    let used = sql.usage.get()!.used;
    let evicted = 0;
    while (used + bytes > cap) {
      const candidates = sql.oldestEvictable.all(EVICTION_BATCH);
      if (candidates.length === 0) {
        this.warnOverCap(used, bytes);
        break;
      }
      const batch: ClipRow[] = [];
      for (const clip of candidates) {
        if (used + bytes <= cap) break;
        batch.push(clip);
        used -= clip.bytes;
      }
      this.evict(batch, 'space');
      evicted += batch.length;
    }
    return evicted;
  }

  /** Evicts clips older than maxAgeDays that are not held. Finding none writes nothing. */
  evictExpired(): number {
    const { sql } = this.require();
    const cutoff = this.deps.clock.now() - this.deps.maxAgeDays * DAY_MS;
    let evicted = 0;
    for (;;) {
      const expired = sql.expiredEvictable.all(cutoff, EVICTION_BATCH);
      if (expired.length === 0) return evicted;
      this.evict(expired, 'age');
      evicted += expired.length;
    }
  }

  /** The delete procedure for one clip; a held clip is refused. */
  remove(id: string): void {
    const { sql } = this.require();
    assertClipId(id);
    if (!sql.isReady.get(id)) throw new StoreError('not-found', `cannot remove clip ${id}: no such clip in the store`);
    const holders = this.holdersOf(id);
    if (holders.length > 0) {
      throw new StoreError('held', `cannot remove clip ${id}: it is held by ${holders.join(', ')} until that ends`);
    }
    if (this.deleteClips([id]).length > 0) {
      throw new StoreError('io', `clip ${id} left the index but its file could not be deleted; the next start retries`);
    }
  }

  private require(): Running {
    if (!this.running) throw new Error('ClipStore is not started: call start() first');
    return this.running;
  }

  private async save({ sql, layout, io }: Running, id: string, thumbnail: Buffer | null): Promise<ClipRecord> {
    const temp = tempPath(layout, id);
    const { bytes, sha256 } = await hashFile(temp);
    if (bytes === 0) throw new StoreError('corrupt', `clip ${id} is empty: nothing was written to ${temp}`);
    await io.syncFile(temp);
    const thumb = this.acceptThumbnail(id, thumbnail);
    // Nothing awaits from here to the row update, so no other commit or eviction interleaves.
    this.evictUntilFits(bytes);
    io.rename(temp, clipPath(layout, id));
    io.syncDir(layout.clips);
    sql.markReady.run(bytes, sha256, thumb, id);
    return toClipRecord(sql.getReady.get(id)!, layout);
  }

  /** Undoes a failed commit: files first, then the row, so a crash in between leaves what recovery drops. */
  private discard({ sql, layout, io }: Running, id: string): void {
    try {
      unlinkIfPresent(tempPath(layout, id));
      if (sql.isWriting.get(id)) {
        if (unlinkIfPresent(clipPath(layout, id))) io.syncDir(layout.clips);
        sql.deleteWriting.run(id);
      }
    } catch (err) {
      this.deps.log.error('could not clean up after a failed clip; the next start will', { clipId: id, err });
    }
  }

  private acceptThumbnail(id: string, thumbnail: Buffer | null): Buffer | null {
    if (thumbnail === null) return null;
    const isJpeg = Buffer.isBuffer(thumbnail) && thumbnail[0] === 0xff && thumbnail[1] === 0xd8 && thumbnail[2] === 0xff;
    if (isJpeg && thumbnail.length <= MAX_THUMBNAIL_BYTES) return thumbnail;
    // The clip matters more than its picture: keep the clip, say what was wrong.
    this.deps.log.warn('thumbnail dropped: expected a JPEG of at most 24 KiB', {
      clipId: id,
      bytes: Buffer.isBuffer(thumbnail) ? thumbnail.length : null,
      jpeg: isJpeg,
    });
    return null;
  }

  private evict(rows: readonly ClipRow[], reason: EvictReason): void {
    const { layout } = this.require();
    this.deleteClips(rows.map((r) => r.id));
    this.deps.log.info('evicted clips', {
      reason,
      clips: rows.length,
      freedBytes: rows.reduce((sum, r) => sum + r.bytes, 0),
      oldest: rows[0]?.id,
    });
    for (const row of rows) {
      try {
        this.deps.onEvict?.(toClipRecord(row, layout), reason);
      } catch (err) {
        this.deps.log.error('onEvict listener failed', { clipId: row.id, reason, err });
      }
    }
  }

  /**
   * The delete procedure: rows to garbage in one transaction, unlink, fsync the folder, drop the
   * garbage rows. Returns the ids whose file could not be unlinked (they stay in garbage for next start).
   */
  private deleteClips(ids: readonly string[]): string[] {
    const { sql, layout, io } = this.require();
    sql.moveToGarbage(ids);
    const failed: string[] = [];
    for (const id of ids) {
      try {
        if (!unlinkIfPresent(clipPath(layout, id))) this.deps.log.warn('clip file was already gone', { clipId: id });
      } catch (err) {
        failed.push(id);
        this.deps.log.error('could not delete a clip file; the next start retries', { clipId: id, err });
      }
    }
    io.syncDir(layout.clips);
    sql.dropGarbage(ids.filter((id) => !failed.includes(id)));
    return failed;
  }

  private warnOverCap(usedBytes: number, incomingBytes: number): void {
    const held = this.require().sql.heldUsage.get()!;
    const byHolds = held.clips > 0;
    this.deps.log.warn(byHolds ? 'storage is over its cap because of held clips' : 'a clip is larger than the whole store', {
      usedBytes,
      incomingBytes,
      capBytes: this.deps.maxBytes,
      heldClips: held.clips,
      heldBytes: held.used,
      hint: byHolds
        ? 'held clips belong to pending or uploading requests and are kept until those end; the store shrinks back under storage.maxBytes then'
        : 'raise storage.maxBytes or shorten record.maxClipSeconds',
    });
  }

  private expireQuietly(): void {
    try {
      this.evictExpired();
    } catch (err) {
      this.deps.log.error('evicting expired clips failed', { err });
    }
  }

  private expireOnTimer(): void {
    if (this.running) this.expireQuietly();
  }

  private failure(err: unknown, what: string): StoreError {
    if (err instanceof StoreError) return err;
    const kind = errorKindOf(err);
    const why =
      kind === 'disk-full'
        ? `the filesystem of ${this.deps.dir} is full. Free space there, or set storage.maxBytes below its free space`
        : err instanceof Error
          ? err.message
          : String(err);
    return new StoreError(kind, `${what}: ${why}`, { cause: err });
  }
}

/** New folders are made durable before any file is renamed into them. */
function makeFolders(layout: StoreLayout, io: StoreIo): void {
  if (mkdirSync(layout.temp, { recursive: true }) === undefined) return;
  io.syncDir(layout.root);
  io.syncDir(layout.clips);
}

function validateNewClip(clip: NewClip): void {
  assertClipId(clip.id);
  for (const key of ['start', 'end', 'triggeredAt'] as const) {
    if (!Number.isSafeInteger(clip[key])) {
      throw new TypeError(`clip ${clip.id}: ${key} must be whole milliseconds since the epoch, got ${clip[key]}`);
    }
  }
  if (clip.end < clip.start) throw new RangeError(`clip ${clip.id}: end ${clip.end} is before start ${clip.start}`);
  if (!TRIGGER_KINDS.includes(clip.kind)) throw new TypeError(`clip ${clip.id}: unknown trigger kind ${JSON.stringify(clip.kind)}`);
  if (!TRIGGER_SOURCES.includes(clip.source)) {
    throw new TypeError(`clip ${clip.id}: unknown trigger source ${JSON.stringify(clip.source)}`);
  }
}

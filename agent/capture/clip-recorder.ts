/**
 * Turns triggers into clips. Each trigger gets a snapshot as soon as the segment showing its moment
 * closes (about a second later), so the owner sees who is at the door long before the clip is done.
 * When a clip's end has passed and the segment covering it has closed, its segments are joined by
 * stream copy into the store; a failure costs that clip only.
 *
 * Work is bounded whatever the trigger rate: one snapshot job at a time, and while it runs only the
 * newest waiting snapshot is kept (the snapshot topic shows the latest anyway); one join at a time,
 * queued. A clip keeps its segments until it is written, so a join that fails or times out on a
 * slow machine is tried again with more time instead of losing the clip.
 */
import { EventEmitter } from 'node:events';
import { iso, type Clock } from '../clock.js';
import type { Trigger } from '../events.js';
import { newId } from '../ids.js';
import type { Logger } from '../log.js';
import type { ClipRecord } from '../store/index.js';
import { ClipPlan, coveringSegments, missingMs, segmentShowing, type PlannedClip } from './clip-plan.js';
import type { FfmpegTools } from './ffmpeg.js';
import type { ClipSink, RecorderEvents, Segment } from './types.js';

export interface ClipRecorderDeps {
  /** The pre-roll ring's closed segments, oldest first. */
  segments: () => readonly Segment[];
  tools: Pick<FfmpegTools, 'joinSegments' | 'extractThumbnail'>;
  sink: ClipSink;
  clock: Clock;
  log: Logger;
  preRollSeconds: number;
  postRollSeconds: number;
  maxClipSeconds: number;
  /** How long past a clip's end to wait for its last segment before writing what exists (camera down). */
  finishGraceMs: number;
  /** The first join attempt's time limit (60 s); each retry doubles it. */
  joinTimeoutMs?: number;
  /** Join attempts before a clip is given up (4). */
  joinAttempts?: number;
  /** Wait before the n-th retry: n × this (2 s). */
  joinRetryMs?: number;
}

export interface PlacedTrigger {
  clipId: string;
  opened: boolean;
}

interface OpenClip {
  plan: PlannedClip;
  /** The snapshot of the first trigger, reused as the clip's thumbnail. */
  thumbnail: Promise<Buffer | null> | null;
  timer: NodeJS.Timeout | undefined;
  finishing: boolean;
}

interface PendingSnapshot {
  clipId: string;
  at: number;
  forThumbnail: boolean;
}

interface ReadySnapshot {
  pending: PendingSnapshot;
  segment: Segment;
}

/** Anything less is timing noise between segments, not a hole worth a warning. */
const MISSING_WARN_MS = 500;
const JOIN_TIMEOUT_MS = 60_000;
const JOIN_ATTEMPTS = 4;
const JOIN_RETRY_MS = 2_000;

export class ClipRecorder extends EventEmitter<RecorderEvents> {
  private plan: ClipPlan | null = null;
  private readonly clips = new Map<string, OpenClip>();
  private pendingSnapshots: PendingSnapshot[] = [];
  /** The one snapshot waiting for the running one to finish; a newer one replaces it. */
  private nextSnapshot: ReadySnapshot | null = null;
  private snapshotRunning = false;
  private readonly joinQueue: OpenClip[] = [];
  private joining = false;
  private stopping = false;
  private checkScheduled = false;
  private readonly work = new Set<Promise<unknown>>();

  constructor(private readonly deps: ClipRecorderDeps) {
    super();
  }

  start(): void {
    if (this.plan) throw new Error('ClipRecorder.start() called twice');
    const { preRollSeconds, postRollSeconds, maxClipSeconds } = this.deps;
    this.plan = new ClipPlan(
      { preRollMs: preRollSeconds * 1000, postRollMs: postRollSeconds * 1000, maxClipMs: maxClipSeconds * 1000 },
      (at) => newId(at),
    );
  }

  /** Writes every open clip now with the video that exists, and waits for all work in flight. */
  async stop(): Promise<void> {
    if (!this.plan) return;
    const now = this.deps.clock.now();
    this.stopping = true;
    this.pendingSnapshots = [];
    this.nextSnapshot = null;
    for (const open of this.clips.values()) {
      if (open.finishing) continue;
      open.plan.end = Math.min(open.plan.end, now);
      this.finish(open);
    }
    this.plan = null;
    while (this.work.size) await Promise.all([...this.work]);
  }

  /** Places the trigger in a clip (opening or extending one): that clip's id, and whether this trigger opened it. */
  trigger(trigger: Trigger): PlacedTrigger {
    if (!this.plan) throw new Error('the clip recorder is not running');
    const placed = this.plan.place(trigger);
    for (const changed of placed.extended) {
      const open = this.clips.get(changed.id);
      if (!open) continue;
      this.armFinishTimer(open);
      this.emit('clip-extended', { clipId: changed.id, end: changed.end, trigger });
    }
    const clipId = placed.clip.id;
    if (placed.opened) {
      const open: OpenClip = { plan: placed.clip, thumbnail: null, timer: undefined, finishing: false };
      this.clips.set(clipId, open);
      this.armFinishTimer(open);
      this.deps.log.debug('clip opened', { clipId, from: iso(placed.clip.start), to: iso(placed.clip.end) });
      this.emit('clip-opened', { clipId, trigger });
    }
    // Video motion fires again and again while someone stays in view: it gets a snapshot when it opens
    // a clip; a ring, a PIR or a manual trigger always does.
    if (placed.opened || trigger.source !== 'video') this.pendingSnapshots.push({ clipId, at: trigger.at, forThumbnail: placed.opened });
    // Off the ring's path: the caller publishes the event first, the snapshot follows.
    if (!this.checkScheduled) {
      this.checkScheduled = true;
      setImmediate(() => {
        this.checkScheduled = false;
        this.segmentClosed();
      });
    }
    return { clipId, opened: placed.opened };
  }

  /** The ring closed a segment: take the snapshots and write the clips it completes. */
  segmentClosed(): void {
    if (!this.plan) return;
    const segments = this.deps.segments();
    this.takeSnapshots(segments);
    const newestEnd = segments.at(-1)?.end ?? Number.NEGATIVE_INFINITY;
    const now = this.deps.clock.now();
    for (const open of this.clips.values()) {
      if (!open.finishing && now >= open.plan.end && newestEnd >= open.plan.end) this.finish(open);
    }
  }

  /** The earliest moment an open clip still needs; the ring keeps segments ending after it. */
  retainFrom(): number | null {
    let earliest: number | null = null;
    for (const open of this.clips.values()) earliest = Math.min(earliest ?? open.plan.start, open.plan.start);
    return earliest;
  }

  private armFinishTimer(open: OpenClip): void {
    clearTimeout(open.timer);
    const delayMs = Math.max(0, open.plan.end + this.deps.finishGraceMs - this.deps.clock.now());
    open.timer = setTimeout(() => {
      if (open.finishing || !this.plan) return;
      this.deps.log.warn('the segment closing the clip never came; writing what exists', { clipId: open.plan.id });
      this.takeSnapshots(this.deps.segments());
      this.finish(open);
    }, delayMs);
  }

  private takeSnapshots(segments: readonly Segment[]): void {
    const waiting: PendingSnapshot[] = [];
    for (const pending of this.pendingSnapshots) {
      const segment = segmentShowing(segments, pending.at);
      if (!segment) {
        waiting.push(pending);
        continue;
      }
      const replaced = this.nextSnapshot?.pending;
      // A newer trigger of the same clip keeps the duty of making its thumbnail.
      const forThumbnail = pending.forThumbnail || (replaced?.forThumbnail === true && replaced.clipId === pending.clipId);
      this.nextSnapshot = { pending: { ...pending, forThumbnail }, segment };
    }
    this.pendingSnapshots = waiting;
    this.runNextSnapshot();
  }

  private runNextSnapshot(): void {
    const next = this.nextSnapshot;
    if (this.snapshotRunning || !next) return;
    this.nextSnapshot = null;
    this.snapshotRunning = true;
    const jpeg = this.snapshot(next.pending, next.segment);
    const open = this.clips.get(next.pending.clipId);
    if (next.pending.forThumbnail && open) open.thumbnail = jpeg;
    this.track(
      jpeg.finally(() => {
        this.snapshotRunning = false;
        this.runNextSnapshot();
      }),
    );
  }

  private async snapshot(pending: PendingSnapshot, segment: Segment): Promise<Buffer | null> {
    let jpeg: Buffer;
    try {
      // The keyframe that opens the segment showing the moment: one small decode.
      jpeg = await this.deps.tools.extractThumbnail(segment.path, 0);
    } catch (err) {
      this.deps.log.warn('snapshot failed', { clipId: pending.clipId, error: (err as Error).message });
      return null;
    }
    try {
      this.emit('snapshot', { clipId: pending.clipId, jpeg });
    } catch (err) {
      // A listener's bug must not cost the clip its thumbnail.
      this.deps.log.error('a snapshot listener failed', { clipId: pending.clipId, error: (err as Error).message });
    }
    return jpeg;
  }

  private finish(open: OpenClip): void {
    const id = open.plan.id;
    open.finishing = true;
    clearTimeout(open.timer);
    this.plan?.close(id);
    // Snapshots still waiting have no segment and will get none before the clip is written.
    this.pendingSnapshots = this.pendingSnapshots.filter((p) => p.clipId !== id);
    this.joinQueue.push(open);
    this.runNextJoin();
  }

  private runNextJoin(): void {
    if (this.joining) return;
    const open = this.joinQueue.shift();
    if (!open) return;
    this.joining = true;
    this.track(
      this.write(open).finally(() => {
        // Only now may the ring drop the clip's segments.
        this.clips.delete(open.plan.id);
        this.joining = false;
        this.runNextJoin();
      }),
    );
  }

  private async write(open: OpenClip): Promise<void> {
    const { sink, tools, log } = this.deps;
    const { id, start, end, trigger } = open.plan;
    const covering = coveringSegments(this.deps.segments(), start, end);
    if (!covering.length) {
      this.fail(id, `no video from the camera between ${iso(start)} and ${iso(end)} (camera down?)`, false);
      return;
    }
    const missing = missingMs(covering, start, end);
    if (missing > MISSING_WARN_MS) {
      log.warn('the clip has holes: the camera was down for part of it', { clipId: id, missingSeconds: missing / 1000 });
    }
    const videoStart = covering[0]!.start;
    let begun = false;
    let clip: ClipRecord;
    try {
      const videoEnd = covering.at(-1)!.end;
      const temp = sink.begin({ id, start: videoStart, end: videoEnd, kind: trigger.kind, source: trigger.source, triggeredAt: trigger.at });
      begun = true;
      await this.join(id, covering, temp);
      clip = await sink.commit(id, await this.thumbnailFor(open, temp, videoStart));
    } catch (err) {
      this.fail(id, (err as Error).message, begun);
      return;
    }
    log.debug('clip written', { clipId: id, segments: covering.length, bytes: clip.bytes });
    this.emit('clip-ready', { clip });
  }

  /** Joins with retries: each attempt gets twice the time of the one before; the segments stay meanwhile. */
  private async join(clipId: string, covering: Segment[], temp: string): Promise<void> {
    const attempts = this.deps.joinAttempts ?? JOIN_ATTEMPTS;
    const baseMs = this.deps.joinTimeoutMs ?? JOIN_TIMEOUT_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.tools.joinSegments(covering.map((s) => s.path), temp, { timeoutMs: baseMs * 2 ** (attempt - 1) });
        if (attempt > 1) this.deps.log.info('the clip was joined on a retry', { clipId, attempt });
        return;
      } catch (err) {
        if (attempt >= attempts) throw err;
        const retryInMs = this.stopping ? 0 : (this.deps.joinRetryMs ?? JOIN_RETRY_MS) * attempt;
        this.deps.log.warn('joining the clip failed; its segments are kept and the join is tried again', {
          clipId,
          attempt,
          retryInMs,
          error: (err as Error).message,
        });
        await new Promise((resolve) => setTimeout(resolve, retryInMs));
      }
    }
  }

  private async thumbnailFor(open: OpenClip, file: string, videoStart: number): Promise<Buffer | null> {
    const snapshot = await open.thumbnail;
    if (snapshot) return snapshot;
    try {
      return await this.deps.tools.extractThumbnail(file, Math.max(0, open.plan.trigger.at - videoStart) / 1000);
    } catch (err) {
      this.deps.log.warn('the clip has no thumbnail', { clipId: open.plan.id, error: (err as Error).message });
      return null;
    }
  }

  private fail(clipId: string, error: string, begun: boolean): void {
    if (begun) {
      try {
        this.deps.sink.abort(clipId);
      } catch (err) {
        this.deps.log.error('the store could not drop the failed clip', { clipId, error: (err as Error).message });
      }
    }
    this.deps.log.warn('clip not recorded', { clipId, error });
    this.emit('clip-failed', { clipId, error });
  }

  private track(job: Promise<unknown>): void {
    const tracked = job.catch((err: Error) => this.deps.log.error('capture job failed', { error: err.message }));
    this.work.add(tracked);
    void tracked.finally(() => this.work.delete(tracked));
  }
}

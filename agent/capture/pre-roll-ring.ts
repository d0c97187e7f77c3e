/**
 * The pre-roll ring: one supervised ffmpeg per camera writes short MPEG-TS segments into a tmpfs
 * folder. ffmpeg writes a CSV line for each segment it closes to a pipe (`-segment_list pipe:3`), so
 * the ring learns of it at once, without polling and without waking while idle; it gives it wall-clock times,
 * and deletes it once it is older than the pre-roll window, unless an open clip still needs it.
 * Supervision trusts segments, not exit codes: ffmpeg exits 0 when an RTSP server goes away and may
 * hang forever on a stalled session, so "no new segment for stallSeconds" is what counts.
 */
import { EventEmitter } from 'node:events';
import { unlinkSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { forgetPids, reapOrphans, recordPids } from './orphans.js';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { FEEDER_PREFIX, type FfmpegExit, type FfmpegTools, type RunningFfmpeg, type StopLadder } from './ffmpeg.js';
import { parseSegmentList, SEGMENT_PATTERN, segmentNumber, type ListedSegment } from './segment-list.js';
import type { CameraSource } from './sources.js';
import { StreamClock } from './stream-clock.js';
import type { CameraHealth, RingEvents, Segment } from './types.js';

export interface PreRollRingDeps {
  source: CameraSource;
  tools: FfmpegTools;
  /** `<runtime.dir>/segments`: tmpfs, never the SD card. */
  dir: string;
  segmentSeconds: number;
  preRollSeconds: number;
  /** No new segment for this long stops ffmpeg (to be restarted). */
  stallSeconds: number;
  /** A fresh ffmpeg gets this much longer for its first segment: connecting and the first keyframe come first. */
  connectTimeoutSeconds: number;
  clock: Clock;
  log: Logger;
  /** The earliest wall time an open clip still needs (null: none); segments ending after it are kept. */
  retainFrom?: () => number | null;
  stopLadder?: StopLadder;
  /** A second output of the same ffmpeg, written to its stdout (the motion detector's grey frames). */
  stdoutBranch?: StdoutBranch;
}

export interface StdoutBranch {
  /** ffmpeg output arguments, ending in `pipe:1`. */
  args: string[];
  /** Decoder options for the input, placed before it. */
  decodeArgs?: string[];
  /** Called at every ffmpeg start; returns that run's stdout listener. */
  open(): (chunk: Buffer) => void;
}

const PRUNE_MARGIN_MS = 1_000;
const RESTART_BASE_MS = 1_000;
const RESTART_CAP_MS = 60_000;
/** A run that delivered video this long resets the restart backoff. */
const HEALTHY_RESET_MS = 60_000;

interface Run {
  proc: RunningFfmpeg;
  startedAt: number;
  firstNumber: number;
  /** The highest segment number seen in the list. */
  lastListed: number;
  lastSegmentAt: number | null;
  flowingSince: number | null;
  streamClock: StreamClock;
  stalled: boolean;
  exited: boolean;
  reportedSkipped: boolean;
  /** The segment list's last, not yet complete line. */
  partial: string;
  stallTimer: NodeJS.Timeout | undefined;
  done: Promise<void>;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Why a run ended, for the state: ffmpeg's stderr names its input, so it goes through the source's redact(). */
function exitReason(exit: FfmpegExit, stderr: string[], redact: (text: string) => string): string {
  if (exit.error) return redact(`ffmpeg could not start: ${exit.error}`);
  // A feeder that died first (the Pi camera busy or missing) is the cause; ffmpeg only saw its input end.
  const feeder = exit.feeder && exit.code !== null ? `; ${exit.feeder}` : '';
  // Exit 0 unasked: the input ended (an RTSP server going away says goodbye that way); the last
  // stderr line is then only a muxer warning, not the cause.
  if (exit.code === 0) return redact(`the camera's stream ended (ffmpeg exited normally)${feeder}`);
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  const last = stderr.filter((line) => !line.startsWith(FEEDER_PREFIX)).at(-1);
  return redact(`ffmpeg ${how}${last ? `: ${last}` : ''}${feeder}`);
}

export class PreRollRing extends EventEmitter<RingEvents> {
  private run: Run | null = null;
  private list: Segment[] = [];
  private newestEnd: number | null = null;
  private nextNumber = 0;
  private attempt = 0;
  private running = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private state: CameraHealth = { ok: false, since: 0, restarts: 0, lastSegmentAt: null, lastGap: null, detail: 'not started' };

  constructor(private readonly deps: PreRollRingDeps) {
    super();
  }

  async start(): Promise<void> {
    if (this.running) throw new Error('PreRollRing.start() called twice');
    await mkdir(this.deps.dir, { recursive: true });
    await reapOrphans(this.deps.dir, this.deps.log);
    // Segments left by an earlier agent have no wall times, so they go; their numbers are still never reused.
    const removed = await this.removeSegments(() => true);
    if (removed) this.deps.log.debug('removed segments left by an earlier run', { count: removed });
    this.running = true;
    this.state = { ...this.state, ok: false, since: this.deps.clock.now(), detail: 'starting' };
    this.emit('health', this.health());
    await this.launch();
  }

  /** Stops ffmpeg gracefully; the segments stay until clear() so open clips can still be finished. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.restartTimer);
    const run = this.run;
    if (run) {
      const exit = await run.proc.stop();
      if (!exit.clean && !run.exited) this.deps.log.warn('ffmpeg had to be killed at stop', { exitStatus: exit.code, signal: exit.signal });
      await run.done;
    }
    await forgetPids(this.deps.dir);
    this.setHealth({ ok: false, detail: 'stopped' });
  }

  /** Deletes every segment. Only after stop(), once nothing needs them. */
  async clear(): Promise<void> {
    if (this.running) throw new Error('PreRollRing.clear() while running');
    await this.removeSegments(() => true);
    this.list = [];
  }

  /** Closed segments still on tmpfs, oldest first. */
  segments(): readonly Segment[] {
    return this.list.slice();
  }

  health(): CameraHealth {
    return { ...this.state };
  }

  /** The running ffmpeg's process id, for diagnostics. */
  pid(): number | null {
    return this.run && !this.run.exited ? (this.run.proc.pid ?? null) : null;
  }

  /** The process feeding the running ffmpeg (rpicam-vid), for diagnostics. */
  feederPid(): number | null {
    return this.run && !this.run.exited ? (this.run.proc.feederPid ?? null) : null;
  }

  private async spawnRun(): Promise<void> {
    const { dir, source, tools, segmentSeconds, clock, log, stdoutBranch } = this.deps;
    await source.prepare?.(tools, log);
    if (!this.running) return;
    const firstNumber = this.nextNumber;
    const proc = tools.spawn(
      [
        // The copy to segments never decodes; only the motion branch does, and it needs no deblocking.
        ...(stdoutBranch?.decodeArgs ?? []),
        ...source.inputArgs(),
        // Video only: audio is never recorded (privacy, and G.711 from cameras cannot be copied into MP4).
        '-map', '0:v:0',
        ...source.videoArgs(),
        '-f', 'segment', '-segment_time', String(segmentSeconds), '-segment_format', 'mpegts',
        // Without a list size, ffmpeg appends one line per closed segment and flushes it: a stream, not a file to re-read.
        '-reset_timestamps', '0', '-segment_list', 'pipe:3', '-segment_list_type', 'csv',
        // Continues the numbering, so a restarted ffmpeg never overwrites a segment a clip may still read.
        '-segment_start_number', String(firstNumber),
        join(dir, SEGMENT_PATTERN),
        ...(stdoutBranch?.args ?? []),
      ],
      this.deps.stopLadder,
      { feeder: source.feeder?.(), onStdout: stdoutBranch?.open(), onPipe3: (chunk) => this.listed(run, chunk) },
    );
    const run: Run = {
      proc,
      startedAt: clock.now(),
      firstNumber,
      lastListed: firstNumber - 1,
      lastSegmentAt: null,
      flowingSince: null,
      streamClock: new StreamClock(),
      stalled: false,
      exited: false,
      reportedSkipped: false,
      partial: '',
      stallTimer: undefined,
      done: Promise.resolve(),
    };
    this.armStallTimer(run);
    run.done = proc.exited
      .then((exit) => this.ended(run, exit))
      .catch((err: Error) => log.error('handling the end of ffmpeg failed', { error: err.message }));
    this.run = run;
    await recordPids(dir, [proc.pid, proc.feederPid]);
    log.info('ffmpeg started', { pid: proc.pid, source: source.describe(), firstSegment: firstNumber });
  }

  /** ffmpeg closed one or more segments: their list lines arrive here as they are written. */
  private listed(run: Run, chunk: Buffer): void {
    const text = run.partial + chunk.toString('utf8');
    const complete = text.lastIndexOf('\n') + 1;
    run.partial = text.slice(complete);
    const { entries, skipped } = parseSegmentList(text.slice(0, complete));
    if (skipped && !run.reportedSkipped) {
      run.reportedSkipped = true;
      this.deps.log.warn('the segment list has lines that are not our segments', { skipped });
    }
    const fresh = entries.filter((e) => e.number > run.lastListed);
    if (fresh.length) this.admit(run, fresh);
    this.prune();
  }

  private admit(run: Run, fresh: ListedSegment[]): void {
    const { dir, clock, log } = this.deps;
    const now = clock.now();
    const newest = fresh[fresh.length - 1]!;
    if (run.streamClock.observe(newest.end, now) === 're-anchored') {
      log.warn('stream time and wall clock drifted apart by more than 2 s; re-anchored', { segment: newest.name });
    }
    for (const entry of fresh) {
      const { streamClock } = run;
      const segment = { path: join(dir, entry.name), start: streamClock.toWall(entry.start), end: streamClock.toWall(entry.end) };
      this.noteGap(segment);
      this.list.push(segment);
      run.lastListed = entry.number;
      this.emit('segment', segment);
    }
    if (run.flowingSince === null) log.info('video is flowing', { pid: run.proc.pid, firstSegment: fresh[0]!.name });
    run.flowingSince ??= now;
    run.lastSegmentAt = now;
    this.armStallTimer(run);
    this.setHealth({ ok: true, lastSegmentAt: now, detail: undefined });
  }

  private noteGap(segment: Segment): void {
    const previous = this.newestEnd;
    this.newestEnd = segment.end;
    if (previous === null || segment.start - previous <= (this.deps.segmentSeconds * 1000) / 2) return;
    const gap = { start: previous, end: segment.start };
    this.deps.log.warn('gap in the video', { seconds: (gap.end - gap.start) / 1000, from: new Date(gap.start).toISOString() });
    this.setHealth({ lastGap: gap });
  }

  /** One timer per run, pushed back by every segment: it fires only when the video stops (or never starts). */
  private armStallTimer(run: Run): void {
    const { stallSeconds, connectTimeoutSeconds } = this.deps;
    clearTimeout(run.stallTimer);
    run.stallTimer = setTimeout(() => this.stalled(run), (stallSeconds + (run.lastSegmentAt === null ? connectTimeoutSeconds : 0)) * 1000);
  }

  private stalled(run: Run): void {
    if (run.exited || run.stalled || !this.running) return;
    const quietMs = this.deps.clock.now() - (run.lastSegmentAt ?? run.startedAt);
    run.stalled = true;
    const detail = `no video for ${Math.round(quietMs / 1000)} s; restarting ffmpeg`;
    this.deps.log.warn('camera stalled; stopping ffmpeg', { pid: run.proc.pid, quietSeconds: quietMs / 1000 });
    this.setHealth({ ok: false, detail });
    void run.proc.stop();
  }

  private async ended(run: Run, exit: FfmpegExit): Promise<void> {
    run.exited = true;
    clearTimeout(run.stallTimer);
    // The list pipe was read to its end before ffmpeg's exit was reported: the last segment is in.
    try {
      await this.forgetRun(run);
    } catch (err) {
      this.deps.log.error('cannot clean up after ffmpeg', { error: (err as Error).message });
    }
    if (!this.running) return;
    const { clock, log } = this.deps;
    const now = clock.now();
    if (run.flowingSince !== null && now - run.flowingSince >= HEALTHY_RESET_MS) this.attempt = 0;
    const delayMs = Math.min(RESTART_CAP_MS, RESTART_BASE_MS * 2 ** this.attempt++);
    const redact = (text: string): string => this.deps.source.redact(text);
    const why = run.stalled ? `no video for ${this.deps.stallSeconds} s` : exitReason(exit, run.proc.stderr(), redact);
    // `exitStatus`, not `code`: the logger masks fields named like pairing codes.
    log.warn('ffmpeg ended; restarting', { why, exitStatus: exit.code, signal: exit.signal, restartInMs: delayMs, stderr: run.proc.stderr().map(redact) });
    this.setHealth({ ok: false, detail: `${why}; restarting in ${delayMs / 1000} s` });
    this.restartTimer = setTimeout(() => void this.restart(), delayMs);
  }

  private async restart(): Promise<void> {
    if (!this.running) return;
    this.setHealth({ restarts: this.state.restarts + 1 });
    await this.launch();
  }

  /** Prepares the source and starts ffmpeg; when either fails (camera not answering yet), tries again with backoff. */
  private async launch(): Promise<void> {
    if (!this.running) return;
    try {
      await this.spawnRun();
    } catch (err) {
      if (!this.running) return;
      const delayMs = Math.min(RESTART_CAP_MS, RESTART_BASE_MS * 2 ** this.attempt++);
      const why = this.deps.source.redact((err as Error).message);
      this.deps.log.error('cannot start ffmpeg', { error: why, retryInMs: delayMs });
      this.setHealth({ ok: false, detail: `cannot start the camera: ${why}; retrying in ${delayMs / 1000} s` });
      this.restartTimer = setTimeout(() => void this.restart(), delayMs);
    }
  }

  /** Deletes what the run wrote but never closed, and moves the numbering past everything on disk. */
  private async forgetRun(run: Run): Promise<void> {
    this.nextNumber = Math.max(this.nextNumber, run.lastListed + 1);
    await this.removeSegments((n) => n >= run.firstNumber && n > run.lastListed);
  }

  /** Removes the segment files `doomed` picks; notes every number seen. */
  private async removeSegments(doomed: (n: number) => boolean): Promise<number> {
    const names = await readdir(this.deps.dir);
    let removed = 0;
    for (const name of names) {
      const n = segmentNumber(name);
      if (n !== null) this.nextNumber = Math.max(this.nextNumber, n + 1);
      if (n !== null && doomed(n)) {
        await rm(join(this.deps.dir, name), { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** Drops segments older than the pre-roll window plus two segments and a margin, unless a clip needs them. */
  /**
   * Deletes segments older than the pre-roll window that no open clip needs. Synchronously: the folder
   * is tmpfs, where an unlink is a few microseconds, while fs.promises' would be a trip through
   * libuv's thread pool and a second wake-up of node for each segment (an idle doorbell's CPU is
   * mostly such wake-ups).
   */
  private prune(): void {
    const { clock, preRollSeconds, segmentSeconds, log } = this.deps;
    const keepAfter = clock.now() - (preRollSeconds + 2 * segmentSeconds) * 1000 - PRUNE_MARGIN_MS;
    const retain = this.deps.retainFrom?.() ?? Number.POSITIVE_INFINITY;
    while (this.list.length && this.list[0]!.end < keepAfter && this.list[0]!.end <= retain) {
      const s = this.list.shift()!;
      try {
        unlinkSync(s.path);
      } catch (err) {
        if (!isMissing(err)) log.warn('cannot delete an old segment', { path: s.path, error: (err as Error).message });
      }
    }
  }


  private setHealth(patch: Partial<CameraHealth>): void {
    const before = this.state;
    const next: CameraHealth = { ...before, ...patch };
    if (next.ok !== before.ok) next.since = this.deps.clock.now();
    if (next.detail === undefined) delete next.detail;
    this.state = next;
    const changed =
      next.ok !== before.ok || next.detail !== before.detail || next.restarts !== before.restarts || next.lastGap !== before.lastGap;
    if (changed) this.emit('health', this.health());
  }
}

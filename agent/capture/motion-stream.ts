/**
 * Where the motion detector's frames come from. With the camera's own low-resolution stream
 * (rtsp.subUrl, an ONVIF sub profile) a second, small ffmpeg reads it (SubStreamReader); without one,
 * the pre-roll ffmpeg gets a second output, a scaled grey branch of the stream it already reads,
 * so a camera that allows one or two sessions never sees a second connection for the same stream.
 * Either way ffmpeg writes W×H-byte grey frames to stdout and VideoMotion turns them into events.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { FfmpegTools, RunningFfmpeg } from './ffmpeg.js';
import { FrameSplitter, MotionDetector, type MotionOptions } from './motion.js';
import type { CameraSource } from './sources.js';

export type MotionSettings = MotionOptions & { fps: number };

export interface VideoMotionEvents {
  /** `continuing`: false when an episode starts, true while it goes on with the frames still moving. */
  motion: [{ at: number; continuing: boolean }];
}

/** While an episode goes on, motion is reported at most this often: enough to keep a clip growing. */
const CONTINUING_REPORT_MS = 1_000;

/**
 * Decoder options (before `-i`) for video that is decoded only to find motion in small grey frames:
 * no deblocking and the fast non-spec-compliant paths (invisible at 160 px, ~15 % less CPU), one
 * decoding thread (no frame-threading overhead for one stream) and one filter thread (the scaler's
 * slice threads would wake twice per frame to scale 160x90).
 */
export const MOTION_DECODE_ARGS = ['-filter_threads', '1', '-skip_loop_filter', 'all', '-flags2', '+fast', '-threads', '1'];

/**
 * Most bytes of frames ffmpeg hands over in one write: well inside a stdio socket's default send
 * buffer (node's child stdio is a socketpair, 208 KiB on Linux), so a batch arrives whole.
 */
const BATCH_BYTES = 192 * 1024;

/** Frames per write: about a second's worth, fewer when that would not fit in BATCH_BYTES. */
export function framesPerWrite(o: { width: number; height: number; fps: number }): number {
  return Math.max(1, Math.min(o.fps, Math.floor(BATCH_BYTES / (o.width * o.height))));
}

/**
 * ffmpeg output arguments writing the detector's frames to stdout; area scaling averages away much of
 * the sensor noise. A second of frames is stacked into one picture (`tile`: grey frames one above the
 * other are the same bytes as the frames in a row) and written at once (`-avioflags direct`): node
 * wakes once a second for them, and a wake-up, not the frames' analysis, is what costs most on a
 * small board. The price is up to a second's delay before motion is seen; each frame's time is still
 * its own (VideoMotion). When ffmpeg stops mid-second, it fills the last batch with black frames,
 * which VideoMotion skips as it skips any flat frame.
 */
export function motionOutputArgs(o: { width: number; height: number; fps: number }): string[] {
  const batch = framesPerWrite(o);
  const tile = batch > 1 ? `,tile=1x${batch}` : '';
  return ['-map', '0:v:0', '-vf', `fps=${o.fps},scale=${o.width}:${o.height}:flags=area,format=gray${tile}`, '-avioflags', 'direct', '-f', 'rawvideo', 'pipe:1'];
}

/** Feeds frames from whichever ffmpeg run is current into the detector; emits `motion` when an episode starts and about once a second while it goes on. */
export class VideoMotion extends EventEmitter<VideoMotionEvents> {
  private detector: MotionDetector | null = null;
  private lastFrame: number | null = null;
  private lastReport = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: { settings: MotionSettings; clock: Clock; log: Logger }) {
    super();
  }

  /** Builds the detector and its zone mask; throws on zones that leave nothing to watch. */
  start(): void {
    this.detector ??= new MotionDetector(this.deps.settings);
  }

  /** When the newest frame arrived; null before the first. */
  lastFrameAt(): number | null {
    return this.lastFrame;
  }

  /** A sink for a new ffmpeg run's stdout. The background is forgotten: the scene may have changed while the stream was down. */
  openRun(): (chunk: Buffer) => void {
    const detector = this.detector;
    if (!detector) throw new Error('VideoMotion.openRun() before start()');
    detector.reset();
    const frameMs = 1000 / this.deps.settings.fps;
    const batch = framesPerWrite(this.deps.settings);
    let seen = 0;
    // ffmpeg writes whole batches when their newest frame is made; node may read a batch in two
    // chunks, so a frame's place in its batch, not in a chunk, says how long before that it was made.
    const splitter = new FrameSplitter(detector.frameBytes, (frame) => this.onFrame(detector, frame, (batch - 1 - (seen++ % batch)) * frameMs));
    return (chunk) => splitter.write(chunk);
  }

  /** `agoMs`: how much earlier than the newest frame of its batch this one was made. */
  private onFrame(detector: MotionDetector, frame: Uint8Array, agoMs: number): void {
    const now = this.deps.clock.now() - agoMs;
    this.lastFrame = now;
    // One grey all over shows nothing to compare: the black fillers of a stopping ffmpeg's last
    // batch, or a camera's blank frames while it starts. The background keeps the last real picture.
    if (isFlat(frame)) return;
    const verdict = detector.push(frame);
    if (verdict.state === 'light-change') {
      this.deps.log.debug('whole-frame light change; background re-learned', { changedPercent: Math.round(verdict.changedPercent) });
    }
    if (verdict.motionStarted) {
      this.deps.log.info('video motion', { changedPercent: Math.round(verdict.changedPercent * 10) / 10 });
      this.report(now, false);
    } else if (verdict.inEpisode && verdict.state === 'moving' && now - this.lastReport >= CONTINUING_REPORT_MS) {
      this.report(now, true);
    }
  }

  private report(at: number, continuing: boolean): void {
    this.lastReport = at;
    this.emit('motion', { at, continuing });
  }
}

/** Every pixel the same grey; a real picture differs within its first few pixels, so this is nearly free. */
function isFlat(frame: Uint8Array): boolean {
  const first = frame[0];
  for (let i = 1; i < frame.length; i++) if (frame[i] !== first) return false;
  return true;
}

export interface SubStreamReaderDeps {
  /** A source with its own low-resolution stream (`hasMotionStream`). */
  source: CameraSource;
  motion: VideoMotion;
  settings: MotionSettings;
  tools: FfmpegTools;
  clock: Clock;
  log: Logger;
  /** No frame for this long stops the reader's ffmpeg (to be restarted)... */
  stallSeconds: number;
  /** ...and a fresh one gets this much longer for its first frame. */
  connectTimeoutSeconds: number;
}

const RESTART_BASE_MS = 1_000;
const RESTART_CAP_MS = 60_000;
const HEALTHY_RESET_MS = 60_000;

/** A supervised ffmpeg reading the sub-stream for motion only: restarted with backoff when it dies or stops delivering frames. */
export class SubStreamReader {
  private proc: RunningFfmpeg | null = null;
  private running = false;
  private attempt = 0;
  private startedAt = 0;
  private stalled = false;
  private timer: NodeJS.Timeout | undefined;
  /** Fires when the current run would have been quiet for stallSeconds: a wake-up per stallSeconds, not one per frame or per second. */
  private stallCheck: NodeJS.Timeout | undefined;
  private done: Promise<void> = Promise.resolve();
  private launching: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SubStreamReaderDeps) {}

  start(): void {
    if (this.running) throw new Error('SubStreamReader.start() called twice');
    this.running = true;
    void this.launch();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    clearTimeout(this.stallCheck);
    await this.launching;
    await this.proc?.stop();
    await this.done;
  }

  private launch(): Promise<void> {
    this.launching = this.spawn().catch((err: Error) => this.retry(this.deps.source.redact(err.message)));
    return this.launching;
  }

  private async spawn(): Promise<void> {
    const { source, motion, settings, tools, clock, log } = this.deps;
    // An ONVIF camera knows its sub profile's URI only once resolved.
    await source.prepare?.(tools, log);
    if (!this.running) return;
    if (!source.motionInputArgs) throw new Error(`a ${source.kind} camera has no motion stream`);
    const proc = tools.spawn([...MOTION_DECODE_ARGS, ...source.motionInputArgs(), ...motionOutputArgs(settings)], undefined, { onStdout: motion.openRun() });
    this.proc = proc;
    this.startedAt = clock.now();
    this.stalled = false;
    this.armStallCheck((this.deps.stallSeconds + this.deps.connectTimeoutSeconds) * 1000);
    log.debug('motion sub-stream reader started', { pid: proc.pid });
    this.done = proc.exited.then((exit) => {
      this.proc = null;
      if (!this.running) return;
      const lastFrame = motion.lastFrameAt();
      const deliveredFor = lastFrame !== null && lastFrame > this.startedAt ? lastFrame - this.startedAt : 0;
      if (deliveredFor >= HEALTHY_RESET_MS) this.attempt = 0;
      const why = this.stalled
        ? `no frame for ${this.deps.stallSeconds} s`
        : (exit.error ?? `ffmpeg exited with code ${exit.code}${exit.signal ? ` (${exit.signal})` : ''}`);
      this.retry(source.redact(why), proc.stderr().map((line) => source.redact(line)));
    });
  }

  private retry(why: string, stderr: string[] = []): void {
    if (!this.running) return;
    const delayMs = Math.min(RESTART_CAP_MS, RESTART_BASE_MS * 2 ** this.attempt++);
    this.deps.log.warn('motion sub-stream ended; restarting', { why, restartInMs: delayMs, stderr });
    this.timer = setTimeout(() => void this.launch(), delayMs);
  }

  private armStallCheck(delayMs: number): void {
    clearTimeout(this.stallCheck);
    this.stallCheck = setTimeout(() => this.checkStall(), delayMs);
  }

  private checkStall(): void {
    const proc = this.proc;
    if (!proc || this.stalled || !this.running) return;
    const { clock, motion, stallSeconds, connectTimeoutSeconds, log } = this.deps;
    const lastFrame = motion.lastFrameAt();
    const flowing = lastFrame !== null && lastFrame > this.startedAt;
    const quietMs = clock.now() - (flowing ? lastFrame : this.startedAt);
    const allowedMs = (stallSeconds + (flowing ? 0 : connectTimeoutSeconds)) * 1000;
    if (quietMs < allowedMs) {
      this.armStallCheck(allowedMs - quietMs);
      return;
    }
    this.stalled = true;
    log.warn('motion sub-stream stalled; stopping its ffmpeg', { pid: proc.pid });
    void proc.stop();
  }
}

/**
 * Capture's public surface: the camera's pre-roll ring and the clip recorder, composed by Capture.
 * Everything ffmpeg stays behind ./ffmpeg.ts.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Trigger } from '../events.js';
import type { Logger } from '../log.js';
import { ClipRecorder } from './clip-recorder.js';
import { FfmpegTools, type FfmpegPaths } from './ffmpeg.js';
import { PreRollRing } from './pre-roll-ring.js';
import { createSource } from './sources.js';
import type { CameraHealth, CaptureEvents, ClipSink } from './types.js';

export { ClipRecorder, type ClipRecorderDeps } from './clip-recorder.js';
export { FfmpegTools, locateFfmpeg, type FfmpegPaths, type StopLadder } from './ffmpeg.js';
export { PreRollRing, type PreRollRingDeps } from './pre-roll-ring.js';
export { createSource, h264Encode, SyntheticSource, type CameraSource, type SyntheticOptions } from './sources.js';
export type { CameraHealth, CaptureEvents, ClipSink, RecorderEvents, RingEvents, Segment } from './types.js';

export interface CaptureDeps {
  config: Config;
  ffmpeg: FfmpegPaths;
  sink: ClipSink;
  clock: Clock;
  log: Logger;
}

interface Parts {
  ring: PreRollRing;
  recorder: ClipRecorder;
}

/** One camera: its supervised ffmpeg, the pre-roll ring on tmpfs, and the clips triggers make. */
export class Capture extends EventEmitter<CaptureEvents> {
  private parts: Parts | null = null;
  private stopped = false;

  constructor(private readonly deps: CaptureDeps) {
    super();
  }

  async start(): Promise<void> {
    if (this.parts || this.stopped) throw new Error('Capture starts once: make a new one to start again');
    const { config, ffmpeg, sink, clock, log } = this.deps;
    const { record, camera } = config;
    const tools = new FfmpegTools(ffmpeg, log.child({ part: 'ffmpeg' }));
    const source = createSource(config);
    await source.prepare?.(tools, log);
    const recorder: ClipRecorder = new ClipRecorder({
      segments: () => ring.segments(),
      tools,
      sink,
      clock,
      log,
      preRollSeconds: record.preRollSeconds,
      postRollSeconds: record.postRollSeconds,
      maxClipSeconds: record.maxClipSeconds,
      // Long enough for a stalled camera to be noticed and restarted.
      finishGraceMs: (camera.stallSeconds + 2 * record.segmentSeconds) * 1000,
    });
    const ring: PreRollRing = new PreRollRing({
      source,
      tools,
      dir: join(config.runtime.dir, 'segments'),
      segmentSeconds: record.segmentSeconds,
      preRollSeconds: record.preRollSeconds,
      stallSeconds: camera.stallSeconds,
      clock,
      log,
      retainFrom: () => recorder.retainFrom(),
    });
    ring.on('health', (health) => this.emit('health', health));
    ring.on('segment', () => recorder.segmentClosed());
    recorder.on('clip-opened', (e) => this.emit('clip-opened', e));
    recorder.on('clip-extended', (e) => this.emit('clip-extended', e));
    recorder.on('snapshot', (e) => this.emit('snapshot', e));
    recorder.on('clip-ready', (e) => this.emit('clip-ready', e));
    recorder.on('clip-failed', (e) => this.emit('clip-failed', e));
    recorder.start();
    await ring.start();
    this.parts = { ring, recorder };
    log.info('capture started', { source: source.describe(), preRollSeconds: record.preRollSeconds });
  }

  /** Stops ffmpeg (which closes its last segment), writes the open clips with what exists, then frees tmpfs. */
  async stop(): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    this.parts = null;
    this.stopped = true;
    await parts.ring.stop();
    await parts.recorder.stop();
    await parts.ring.clear();
  }

  /** Returns the id of the clip the trigger belongs to. */
  trigger(trigger: Trigger): string {
    if (!this.parts) throw new Error('capture is not running');
    return this.parts.recorder.trigger(trigger);
  }

  health(): CameraHealth {
    if (this.parts) return this.parts.ring.health();
    const detail = this.stopped ? 'stopped' : 'not started';
    return { ok: false, since: this.deps.clock.now(), restarts: 0, lastSegmentAt: null, lastGap: null, detail };
  }
}

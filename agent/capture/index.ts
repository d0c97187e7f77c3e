/**
 * Capture's public surface: the camera source, its pre-roll ring, the clip recorder and video motion
 * detection, composed by Capture. Everything ffmpeg stays behind ./ffmpeg.ts, everything node-onvif
 * behind ./onvif.ts.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Trigger } from '../events.js';
import type { Logger } from '../log.js';
import { ClipRecorder, type PlacedTrigger } from './clip-recorder.js';
import { createSource } from './create-source.js';
import { FfmpegTools, type FfmpegPaths } from './ffmpeg.js';
import { MOTION_DECODE_ARGS, motionOutputArgs, SubStreamReader, VideoMotion } from './motion-stream.js';
import { PreRollRing } from './pre-roll-ring.js';
import type { CameraHealth, CaptureEvents, ClipSink } from './types.js';

export { ClipRecorder, type ClipRecorderDeps, type PlacedTrigger } from './clip-recorder.js';
export { createSource } from './create-source.js';
export {
  FfmpegTools,
  locateFfmpeg,
  parseEncoderList,
  type Feeder,
  type FfmpegExit,
  type FfmpegPaths,
  type RunningFfmpeg,
  type SpawnOptions,
  type StopLadder,
} from './ffmpeg.js';
export { libcameraInputArgs, LibcameraSource, rpicamVidArgs, type LibcameraOptions } from './libcamera.js';
export {
  FrameSplitter,
  LIGHT_CHANGE_PERCENT,
  MotionDetector,
  rasteriseZones,
  type FrameState,
  type FrameVerdict,
  type MotionOptions,
  type MotionZone,
} from './motion.js';
export { framesPerWrite, MOTION_DECODE_ARGS, motionOutputArgs, SubStreamReader, VideoMotion, type MotionSettings, type VideoMotionEvents } from './motion-stream.js';
export {
  chooseProfile,
  deviceServiceUrl,
  discoverOnvif,
  OnvifCamera,
  withCredentials,
  WS_DISCOVERY,
  type DiscoveredDevice,
  type OnvifDeviceInfo,
  type OnvifLogin,
  type OnvifProfile,
} from './onvif.js';
export { OnvifSource, type OnvifSourceOptions } from './onvif-source.js';
export { PreRollRing, type PreRollRingDeps, type StdoutBranch } from './pre-roll-ring.js';
export { redactSecrets, rtspInputArgs, RtspSource, urlSecrets, type RtspOptions } from './rtsp.js';
export { h264Encode, SyntheticSource, type CameraSource, type SyntheticOptions } from './sources.js';
export type { CameraHealth, CaptureEvents, ClipSink, RecorderEvents, RingEvents, Segment } from './types.js';
export {
  chooseH264Encoder,
  chooseV4l2Input,
  h264EncoderArgs,
  parseV4l2Formats,
  v4l2InputArgs,
  V4l2Source,
  type H264Encoder,
  type V4l2Format,
  type V4l2InputFormat,
  type V4l2Options,
} from './v4l2.js';

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
  subStream: SubStreamReader | null;
  tools: FfmpegTools;
}

/**
 * One camera: its supervised ffmpeg, the pre-roll ring on tmpfs, the clips triggers make, and (when
 * camera.motion.enabled) `motion` events from the video.
 */
export class Capture extends EventEmitter<CaptureEvents> {
  private parts: Parts | null = null;
  private stopped = false;
  private snapshotJob: Promise<Buffer> | null = null;

  constructor(private readonly deps: CaptureDeps) {
    super();
  }

  async start(): Promise<void> {
    if (this.parts || this.stopped) throw new Error('Capture starts once: make a new one to start again');
    const { config, ffmpeg, sink, clock, log } = this.deps;
    const { record, camera } = config;
    const tools = new FfmpegTools(ffmpeg, log.child({ part: 'ffmpeg' }));
    const source = createSource(config);
    const motion = camera.motion.enabled ? new VideoMotion({ settings: camera.motion, clock, log: log.child({ part: 'motion' }) }) : null;
    motion?.start();
    // Not once stop() has begun: ffmpeg still delivers frames while it stops, and a listener placing
    // the motion in a clip would meet a capture that is no longer running.
    motion?.on('motion', (e) => {
      if (this.parts) this.emit('motion', e);
    });
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
      connectTimeoutSeconds: camera.connectTimeoutSeconds,
      clock,
      log,
      retainFrom: () => recorder.retainFrom(),
      // Without a sub-stream, motion reads a scaled branch of this same ffmpeg (never a second session).
      stdoutBranch: motion && !source.hasMotionStream ? { args: motionOutputArgs(camera.motion), decodeArgs: MOTION_DECODE_ARGS, open: () => motion.openRun() } : undefined,
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
    const subStream = motion && source.hasMotionStream
      ? new SubStreamReader({
          source,
          motion,
          settings: camera.motion,
          tools,
          clock,
          log: log.child({ part: 'motion' }),
          stallSeconds: camera.stallSeconds,
          connectTimeoutSeconds: camera.connectTimeoutSeconds,
        })
      : null;
    subStream?.start();
    this.parts = { ring, recorder, subStream, tools };
    const motionFrom = !motion ? 'off' : subStream ? 'the sub-stream' : 'a branch of the main stream';
    log.info('capture started', { source: source.describe(), preRollSeconds: record.preRollSeconds, motion: motionFrom });
  }

  /** Stops ffmpeg (which closes its last segment), writes the open clips with what exists, then frees tmpfs. */
  async stop(): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    this.parts = null;
    this.stopped = true;
    await parts.subStream?.stop();
    await parts.ring.stop();
    await parts.recorder.stop();
    await parts.ring.clear();
  }

  /** Places the trigger in a clip: the clip's id, and whether this trigger opened it. */
  trigger(trigger: Trigger): PlacedTrigger {
    if (!this.parts) throw new Error('capture is not running');
    return this.parts.recorder.trigger(trigger);
  }

  /**
   * A picture of now, for an owner who asks: the keyframe opening the newest closed pre-roll
   * segment (at most one segment old), decoded small. Asks that arrive while one is being made
   * share it, so a tapping owner costs one small decode at a time.
   */
  freshSnapshot(): Promise<Buffer> {
    if (!this.parts) return Promise.reject(new Error('capture is not running'));
    if (this.snapshotJob) return this.snapshotJob;
    const newest = this.parts.ring.segments().at(-1);
    if (!newest) return Promise.reject(new Error('the camera has given no video yet'));
    this.snapshotJob = this.parts.tools.extractThumbnail(newest.path, 0).finally(() => (this.snapshotJob = null));
    return this.snapshotJob;
  }

  health(): CameraHealth {
    if (this.parts) return this.parts.ring.health();
    const detail = this.stopped ? 'stopped' : 'not started';
    return { ok: false, since: this.deps.clock.now(), restarts: 0, lastSegmentAt: null, lastGap: null, detail };
  }
}

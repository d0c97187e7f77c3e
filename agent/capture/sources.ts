/**
 * Camera sources: what goes before the pre-roll ring's segment muxer. H.264 sources (RTSP/ONVIF,
 * the Pi camera's H.264 output, UVC H.264) copy with `-c:v copy`; raw sources encode once with
 * h264Encode() or the hardware encoder. Audio is never recorded (see the README). Every source
 * keeps credentials out of describe() and strips them from text with redact().
 */
import { redactUrl, type Logger } from '../log.js';
import type { Feeder, FfmpegTools } from './ffmpeg.js';

export interface CameraSource {
  readonly kind: string;
  /** For logs, state and `doorbell doctor`; never contains credentials. */
  describe(): string;
  /** Removes this source's credentials from text bound for a log line or the state (ffmpeg's stderr names its input). */
  redact(text: string): string;
  /**
   * Called before every ffmpeg start: checks and discovery (ONVIF stream URIs, a USB camera's formats),
   * done once and remembered. Throwing counts as a failed start: it is retried with backoff, so a
   * camera that boots slower than the agent is picked up when it answers.
   */
  prepare?(tools: FfmpegTools, log: Logger): Promise<void>;
  inputArgs(): string[];
  videoArgs(): string[];
  /** A process whose stdout is ffmpeg's input, run and supervised together with ffmpeg. */
  feeder?(): Feeder;
  /** Whether the camera has its own low-resolution stream for motion detection (known from the config). */
  readonly hasMotionStream?: boolean;
  /** ffmpeg input arguments of that stream, once prepared. */
  motionInputArgs?(): string[];
}

/** A source without credentials: only URLs in the text need redacting. */
export const redactNothing = (text: string): string => redactUrl(text);

/** Encodes a raw source once, with a keyframe at every segment boundary so segments cut exactly. */
export function h264Encode(fps: number, segmentSeconds: number): string[] {
  const gop = String(fps * segmentSeconds);
  return [
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency',
    '-g', gop, '-keyint_min', gop, '-sc_threshold', '0', '-pix_fmt', 'yuv420p',
  ];
}

export interface SyntheticOptions {
  width: number;
  height: number;
  fps: number;
  segmentSeconds: number;
}

/** ffmpeg's test pattern with the wall-clock time burned in, so a clip shows when it was recorded. */
export class SyntheticSource implements CameraSource {
  readonly kind = 'synthetic';
  private clockOverlay = true;
  private checked = false;

  constructor(private readonly options: SyntheticOptions) {}

  redact(text: string): string {
    return redactNothing(text);
  }

  describe(): string {
    const { width, height, fps } = this.options;
    return `synthetic ${width}x${height} at ${fps} fps${this.clockOverlay ? ' with a clock' : ''}`;
  }

  async prepare(tools: FfmpegTools, log: Logger): Promise<void> {
    if (this.checked) return;
    const check = await tools.canDrawText();
    this.checked = true;
    this.clockOverlay = check.ok;
    if (!check.ok) log.warn('drawtext does not work here (no font?): the synthetic video has no clock', { reason: check.reason });
  }

  inputArgs(): string[] {
    const { width, height, fps } = this.options;
    // 48 px at 720p, in proportion elsewhere, so the clock stays readable in a 320 px thumbnail.
    const fontSize = Math.max(12, Math.round(height / 15));
    const clock = `,drawtext=text='%{localtime\\:%T}':fontsize=${fontSize}:fontcolor=white:x=20:y=20`;
    return ['-re', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}${this.clockOverlay ? clock : ''}`];
  }

  videoArgs(): string[] {
    return h264Encode(this.options.fps, this.options.segmentSeconds);
  }
}

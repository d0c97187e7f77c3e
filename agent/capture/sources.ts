/**
 * Camera sources: what goes before the pre-roll ring's segment muxer. H.264 sources (RTSP/ONVIF,
 * the Pi camera's H.264 output, UVC H.264) copy with `-c:v copy`; raw sources encode once with
 * h264Encode(). Every source keeps credentials out of describe(), which is logged.
 */
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { FfmpegTools } from './ffmpeg.js';

export interface CameraSource {
  readonly kind: string;
  /** For logs and `doorbell doctor`; never contains credentials. */
  describe(): string;
  /** Checks or discovery done once before the first ffmpeg starts. */
  prepare?(tools: FfmpegTools, log: Logger): Promise<void>;
  inputArgs(): string[];
  videoArgs(): string[];
}

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

  constructor(private readonly options: SyntheticOptions) {}

  describe(): string {
    const { width, height, fps } = this.options;
    return `synthetic ${width}x${height} at ${fps} fps${this.clockOverlay ? ' with a clock' : ''}`;
  }

  async prepare(tools: FfmpegTools, log: Logger): Promise<void> {
    const check = await tools.canDrawText();
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

export function createSource(config: Config): CameraSource {
  const { camera, record } = config;
  switch (camera.source) {
    case 'synthetic':
      return new SyntheticSource({ ...camera.synthetic, segmentSeconds: record.segmentSeconds });
    default: {
      const unknown: never = camera.source;
      throw new Error(`camera.source "${String(unknown)}" is not supported`);
    }
  }
}

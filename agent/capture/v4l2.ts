/**
 * A USB (UVC) camera through Video4Linux. A camera that offers H.264 is copied; MJPEG or YUYV is
 * encoded once, by the Pi's hardware encoder (h264_v4l2m2m) where it really works, else by libx264
 * ultrafast. ffmpeg lists h264_v4l2m2m wherever it was built with it (Debian's amd64 build too, and a
 * Pi 5 has no H.264 encoder at all), so a short trial encode decides, not the list.
 */
import type { Logger } from '../log.js';
import type { FfmpegTools } from './ffmpeg.js';
import { h264Encode, redactNothing, type CameraSource } from './sources.js';

export type V4l2InputFormat = 'h264' | 'mjpeg' | 'yuyv422';
export type H264Encoder = 'h264_v4l2m2m' | 'libx264';

export interface V4l2Format {
  compressed: boolean;
  /** ffmpeg's name: `h264`, `mjpeg`, `yuyv422`, … */
  name: string;
  description: string;
  /** Discrete frame sizes, or null when the device takes any size in a range. */
  sizes: { width: number; height: number }[] | null;
}

export interface V4l2Options {
  device: string;
  width: number;
  height: number;
  fps: number;
  inputFormat?: V4l2InputFormat;
  segmentSeconds: number;
}

/** Preferred first: H.264 is copied; MJPEG decodes cheaply; YUYV needs the most USB bandwidth. */
const PREFERENCE: readonly V4l2InputFormat[] = ['h264', 'mjpeg', 'yuyv422'];

/** Parses `ffmpeg -f v4l2 -list_formats all -i DEVICE` (lines like `[video4linux2,v4l2 @ 0x…] Compressed:  mjpeg :  Motion-JPEG : 640x480 1280x720`). */
export function parseV4l2Formats(stderr: string): V4l2Format[] {
  const formats: V4l2Format[] = [];
  for (const line of stderr.split('\n')) {
    const m = /\b(Raw|Compressed)\s*:\s*(\S+)\s*:\s*(.*?)\s*:(.*)$/.exec(line);
    if (!m) continue;
    const rest = m[4]!.replace(/Emulated\s*:/, '');
    const discrete = [...rest.matchAll(/(?:^|\s)(\d+)x(\d+)(?=\s|$)/g)].map((s) => ({ width: Number(s[1]), height: Number(s[2]) }));
    formats.push({ compressed: m[1] === 'Compressed', name: m[2]!, description: m[3]!, sizes: rest.includes('{') ? null : discrete });
  }
  return formats;
}

function offersSize(format: V4l2Format, width: number, height: number): boolean {
  return format.sizes === null || format.sizes.some((s) => s.width === width && s.height === height);
}

/** The input format to ask the camera for: the configured one, else the most preferred it offers at the wanted size. */
export function chooseV4l2Input(
  formats: readonly V4l2Format[],
  wanted: { device: string; width: number; height: number; inputFormat?: V4l2InputFormat },
): V4l2InputFormat {
  const { device, width, height, inputFormat } = wanted;
  const describe = (f: V4l2Format): string =>
    `${f.name} (${f.sizes === null ? 'any size' : f.sizes.map((s) => `${s.width}x${s.height}`).join(' ') || 'no sizes listed'})`;
  const offered = formats.map(describe).join(', ') || 'nothing';
  if (inputFormat) {
    const format = formats.find((f) => f.name === inputFormat);
    if (!format) throw new Error(`${device} does not offer camera.v4l2.inputFormat "${inputFormat}"; it offers ${offered}`);
    if (!offersSize(format, width, height)) throw new Error(`${device} does not offer ${inputFormat} at ${width}x${height}; it offers ${offered}`);
    return inputFormat;
  }
  for (const name of PREFERENCE) {
    const format = formats.find((f) => f.name === name);
    if (format && offersSize(format, width, height)) return name;
  }
  throw new Error(
    `${device} offers no H.264, MJPEG or YUYV video at ${width}x${height} (it offers ${offered}): ` +
      'set camera.v4l2.width/height to a listed size',
  );
}

export function v4l2InputArgs(device: string, format: V4l2InputFormat, width: number, height: number, fps: number): string[] {
  return ['-f', 'v4l2', '-input_format', format, '-video_size', `${width}x${height}`, '-framerate', String(fps), '-i', device];
}

/** The hardware encoder when ffmpeg lists it and a trial encode with it worked; libx264 otherwise. */
export function chooseH264Encoder(listed: ReadonlySet<string>, trialWorked: boolean): H264Encoder {
  return listed.has('h264_v4l2m2m') && trialWorked ? 'h264_v4l2m2m' : 'libx264';
}

/** Encoder arguments with a keyframe at every segment boundary, so segments cut exactly. */
export function h264EncoderArgs(encoder: H264Encoder, o: { width: number; height: number; fps: number; segmentSeconds: number }): string[] {
  if (encoder === 'libx264') return h264Encode(o.fps, o.segmentSeconds);
  // About 0.1 bit per pixel: 1.4 Mbit/s at 720p15, plenty for a doorstep.
  const bitrate = Math.round((o.width * o.height * o.fps) / 10);
  return ['-c:v', 'h264_v4l2m2m', '-pix_fmt', 'yuv420p', '-b:v', String(bitrate), '-g', String(o.fps * o.segmentSeconds)];
}

export class V4l2Source implements CameraSource {
  readonly kind = 'v4l2';
  private plan: { format: V4l2InputFormat; encoder: H264Encoder | null } | null = null;

  constructor(private readonly options: V4l2Options) {}

  describe(): string {
    const { device, width, height, fps } = this.options;
    const how = !this.plan ? '' : this.plan.encoder ? ` (${this.plan.format}, encoded with ${this.plan.encoder})` : ' (H.264, copied)';
    return `USB camera ${device} ${width}x${height} at ${fps} fps${how}`;
  }

  redact(text: string): string {
    return redactNothing(text);
  }

  async prepare(tools: FfmpegTools, log: Logger): Promise<void> {
    if (this.plan) return;
    const { device, width, height, fps } = this.options;
    const listing = await tools.report(['-f', 'v4l2', '-list_formats', 'all', '-i', device]);
    const formats = parseV4l2Formats(listing.stderr);
    if (!formats.length) {
      const why = listing.stderr.trim().split('\n').at(-1) ?? 'no output';
      throw new Error(`cannot list the formats of ${device}: ${why}`);
    }
    const format = chooseV4l2Input(formats, this.options);
    let encoder: H264Encoder | null = null;
    if (format !== 'h264') {
      const listed = await tools.encoders();
      const trial = listed.has('h264_v4l2m2m')
        ? await tools.report(['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`, '-frames:v', '3', '-c:v', 'h264_v4l2m2m', '-pix_fmt', 'yuv420p', '-f', 'null', '-'])
        : null;
      encoder = chooseH264Encoder(listed, trial?.code === 0);
      if (trial && encoder === 'libx264') {
        log.info('h264_v4l2m2m is listed but does not encode here (no hardware encoder); using libx264', { why: trial.stderr.trim().split('\n').at(-1) });
      }
    }
    this.plan = { format, encoder };
    log.info('USB camera format chosen', { source: this.describe() });
  }

  inputArgs(): string[] {
    const { device, width, height, fps } = this.options;
    return v4l2InputArgs(device, this.resolved().format, width, height, fps);
  }

  videoArgs(): string[] {
    const { encoder } = this.resolved();
    return encoder ? h264EncoderArgs(encoder, this.options) : ['-c:v', 'copy'];
  }

  private resolved(): { format: V4l2InputFormat; encoder: H264Encoder | null } {
    if (!this.plan) throw new Error('the USB camera format is not chosen yet (prepare() first)');
    return this.plan;
  }
}

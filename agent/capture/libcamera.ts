/**
 * The Raspberry Pi camera: rpicam-vid (libcamera-vid before Raspberry Pi OS Bookworm) encodes H.264
 * on the Pi and writes an elementary stream to stdout, which ffmpeg copies into segments. The two run
 * as one unit: when either dies, both are restarted. A raw H.264 stream carries no timestamps, so
 * ffmpeg is told the frame rate; rpicam-vid repeats SPS/PPS at every keyframe (`--inline`) so each
 * segment decodes on its own, and puts a keyframe at every segment boundary (`--intra`).
 */
import type { Logger } from '../log.js';
import { onPath, type Feeder, type FfmpegTools } from './ffmpeg.js';
import { redactNothing, type CameraSource } from './sources.js';

export interface LibcameraOptions {
  width: number;
  height: number;
  fps: number;
  segmentSeconds: number;
  /** More rpicam-vid options (e.g. `--hflip`, `--awb`, `--denoise`). */
  extraArgs: string[];
  /** The program to run; default: rpicam-vid, else libcamera-vid, found on PATH. */
  command?: string;
}

const PROGRAMS = ['rpicam-vid', 'libcamera-vid'];

export function rpicamVidArgs(o: Pick<LibcameraOptions, 'width' | 'height' | 'fps' | 'segmentSeconds' | 'extraArgs'>): string[] {
  return [
    '-t', '0', '--nopreview', '--codec', 'h264', '--inline', '--flush',
    '--width', String(o.width), '--height', String(o.height), '--framerate', String(o.fps),
    '--intra', String(o.fps * o.segmentSeconds),
    ...o.extraArgs,
    '-o', '-',
  ];
}

/**
 * The stream has no timestamps: the demuxer derives them from the frame rate, and genpts fills in
 * the pts the segment muxer needs to cut. A short probe: by default ffmpeg would read 5 s of a pipe
 * before writing anything, which the ring takes for a stalled camera.
 */
export function libcameraInputArgs(fps: number): string[] {
  return ['-f', 'h264', '-framerate', String(fps), '-probesize', '256k', '-analyzeduration', '1000000', '-fflags', '+genpts', '-i', 'pipe:0'];
}

export class LibcameraSource implements CameraSource {
  readonly kind = 'libcamera';
  private command: string | null;

  constructor(private readonly options: LibcameraOptions) {
    this.command = options.command ?? null;
  }

  describe(): string {
    const { width, height, fps } = this.options;
    return `Pi camera (${this.command ?? PROGRAMS[0]}) ${width}x${height} at ${fps} fps`;
  }

  redact(text: string): string {
    return redactNothing(text);
  }

  async prepare(_tools: FfmpegTools, log: Logger): Promise<void> {
    if (this.command) return;
    for (const name of PROGRAMS) this.command ??= await onPath(name);
    if (!this.command) throw new Error('neither rpicam-vid nor libcamera-vid is installed: sudo apt install rpicam-apps');
    log.debug('Pi camera program found', { command: this.command });
  }

  feeder(): Feeder {
    if (!this.command) throw new Error('the Pi camera program is not found yet (prepare() first)');
    return { command: this.command, args: rpicamVidArgs(this.options) };
  }

  inputArgs(): string[] {
    return libcameraInputArgs(this.options.fps);
  }

  videoArgs(): string[] {
    return ['-c:v', 'copy'];
  }
}

/**
 * The one module that reaches ffmpeg. fluent-ffmpeg (archived upstream) runs the one-shot jobs: join,
 * thumbnail, probe. The long-running capture is spawned directly so it can be stopped the way ffmpeg
 * likes: `q`, then SIGINT, then SIGTERM, and SIGKILL only as the last resort (fluent's kill() starts
 * with SIGKILL). No `progress` listener is ever attached: fluent would run ffprobe on the input, a
 * second session many cameras refuse.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import ffmpeg, { type FfmpegCommand } from 'fluent-ffmpeg';
import type { Logger } from '../log.js';

export interface FfmpegPaths {
  ffmpeg: string;
  /** Absent with the bundled npm binary; durations are then read from ffmpeg's own report. */
  ffprobe: string | null;
  version: string;
}

const INSTALL_HINT = 'install it with `sudo apt-get install ffmpeg`, or set ffmpeg.path in the config';
const JOB_TIMEOUT_MS = 60_000;
const JOB_KILL_GRACE_MS = 5_000;
const STDERR_LINES = 20;
const MAX_STDERR_LINE = 1_000;
/** Enough of ffmpeg's report to still hold the input's "Duration:" line. */
const PROBE_STDERR_LINES = 200;
const MAX_THUMBNAIL_BYTES = 24 * 1024;
/** Tried in order until the JPEG fits MAX_THUMBNAIL_BYTES. */
const THUMBNAIL_STEPS = [
  { width: 320, quality: 6 },
  { width: 320, quality: 12 },
  { width: 320, quality: 20 },
  { width: 240, quality: 25 },
  { width: 160, quality: 31 },
];

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false; // not there or not executable: the caller tries the next place
  }
}

async function onPath(name: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && (await isExecutable(join(dir, name)))) return join(dir, name);
  }
  return null;
}

/** The optional `@ffmpeg-installer/ffmpeg` package: a path, or why it cannot be used. */
async function bundledFfmpeg(): Promise<{ path: string } | { reason: string }> {
  const name = '@ffmpeg-installer/ffmpeg'; // a variable, so type-checking works where it is not installed
  try {
    const mod = (await import(name)) as { default?: { path?: unknown } };
    const path = mod.default?.path;
    if (typeof path === 'string' && (await isExecutable(path))) return { path };
    return { reason: `${name} gave no executable path` };
  } catch (err) {
    // It throws a plain string on an unsupported platform.
    return { reason: `${name}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

async function withVersion(ffmpegPath: string, ffprobe: string | null): Promise<FfmpegPaths> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(ffmpegPath, ['-hide_banner', '-version'], { timeout: 10_000 }));
  } catch (err) {
    throw new Error(`${ffmpegPath} does not run (${(err as Error).message.split('\n')[0]}): ${INSTALL_HINT}`);
  }
  const version = /^ffmpeg version (\S+)/m.exec(stdout)?.[1];
  if (!version) throw new Error(`${ffmpegPath} does not look like ffmpeg (no "ffmpeg version" in its -version output)`);
  return { ffmpeg: ffmpegPath, ffprobe, version };
}

/** The configured path, else `ffmpeg`/`ffprobe` on PATH, else the optional npm binary (no ffprobe). */
export async function locateFfmpeg(configured?: string): Promise<FfmpegPaths> {
  if (configured) {
    // A configured path that does not work is an error, never a silent fallback to another ffmpeg.
    if (!(await isExecutable(configured))) throw new Error(`ffmpeg.path: ${configured} is not an executable file`);
    const sibling = join(dirname(configured), 'ffprobe');
    return withVersion(configured, (await isExecutable(sibling)) ? sibling : await onPath('ffprobe'));
  }
  const found = await onPath('ffmpeg');
  if (found) return withVersion(found, await onPath('ffprobe'));
  const bundled = await bundledFfmpeg();
  if ('path' in bundled) return withVersion(bundled.path, null);
  throw new Error(`ffmpeg not found on PATH (${bundled.reason}): ${INSTALL_HINT}`);
}

/** How long each step of the stop ladder waits for ffmpeg to exit before the next one. */
export interface StopLadder {
  afterQuitMs: number;
  afterSigintMs: number;
  afterSigtermMs: number;
}

const DEFAULT_STOP_LADDER: StopLadder = { afterQuitMs: 2_000, afterSigintMs: 2_000, afterSigtermMs: 5_000 };

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** We asked it to stop; otherwise it ended by itself. */
  requested: boolean;
  /** Ended by our request without needing SIGKILL (exit 255 is how ffmpeg reports being interrupted). */
  clean: boolean;
  /** Set when ffmpeg could not be started at all. */
  error?: string;
}

/** Keeps the last few stderr lines, bounded in count and length. */
class StderrTail {
  private readonly lines: string[] = [];
  private partial = '';

  push(text: string): void {
    const parts = (this.partial + text).split(/\r?\n|\r/);
    this.partial = parts.pop()!.slice(-MAX_STDERR_LINE);
    for (const line of parts) {
      if (!line.trim()) continue;
      this.lines.push(line.slice(0, MAX_STDERR_LINE));
      if (this.lines.length > STDERR_LINES) this.lines.shift();
    }
  }

  get(): string[] {
    return this.partial.trim() ? [...this.lines, this.partial] : [...this.lines];
  }
}

/** A long-running ffmpeg started by FfmpegTools.spawn(). */
export class RunningFfmpeg {
  private stopping: Promise<FfmpegExit> | null = null;

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly ended: Promise<Omit<FfmpegExit, 'requested' | 'clean'>>,
    private readonly tail: StderrTail,
    private readonly ladder: StopLadder,
    private readonly log: Logger,
  ) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Settles once, when the process has gone (by itself or by stop()). */
  get exited(): Promise<FfmpegExit> {
    return this.ended.then((end) => {
      const requested = this.stopping !== null;
      const byInterrupt = end.code === 0 || end.code === 255 || end.signal === 'SIGINT' || end.signal === 'SIGTERM';
      return { ...end, requested, clean: requested && byInterrupt };
    });
  }

  /** The last ~20 stderr lines, for error messages. */
  stderr(): string[] {
    return this.tail.get();
  }

  /** `q` on stdin, then SIGINT, then SIGTERM, and SIGKILL only when all of those were ignored. */
  stop(): Promise<FfmpegExit> {
    this.stopping ??= this.climbLadder();
    return this.stopping;
  }

  private async climbLadder(): Promise<FfmpegExit> {
    let gone = false;
    void this.ended.then(() => (gone = true));
    const steps: [string, () => void, number][] = [
      ['q', () => this.child.stdin.end('q'), this.ladder.afterQuitMs],
      ['SIGINT', () => this.child.kill('SIGINT'), this.ladder.afterSigintMs],
      ['SIGTERM', () => this.child.kill('SIGTERM'), this.ladder.afterSigtermMs],
      ['SIGKILL', () => this.child.kill('SIGKILL'), 0],
    ];
    for (const [step, send, waitMs] of steps) {
      if (gone) break;
      if (step !== 'q') this.log.warn(`ffmpeg did not stop; sending ${step}`, { pid: this.child.pid });
      else this.log.debug('asking ffmpeg to stop (q)', { pid: this.child.pid });
      send();
      if (waitMs > 0) await Promise.race([this.ended, delay(waitMs)]);
    }
    return this.exited;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Quotes a path for the concat demuxer's script; `file:` keeps it from resolving against `pipe:`. */
function concatLine(path: string): string {
  return `file 'file:${path.replace(/'/g, "'\\''")}'\n`;
}

function fluentLogger(log: Logger): ffmpeg.FfmpegCommandLogger {
  const text = (data: unknown[]): string => data.map(String).join(' ');
  return {
    debug: (...data) => log.debug(text(data)),
    info: (...data) => log.debug(text(data)),
    warn: (...data) => log.warn(text(data)),
    error: (...data) => log.error(text(data)),
  };
}

export class FfmpegTools {
  constructor(
    readonly paths: FfmpegPaths,
    private readonly log: Logger,
  ) {}

  /** Joins closed segments by stream copy into one MP4 with its index up front. */
  async joinSegments(files: string[], out: string): Promise<void> {
    if (!files.length) throw new Error('no segments to join');
    const command = this.command()
      .input(Readable.from([files.map(concatLine).join('')]))
      .inputOptions(['-protocol_whitelist', 'file,pipe', '-f', 'concat', '-safe', '0'])
      // The store's temp name does not end in .mp4, so the format is named.
      .outputOptions(['-map', '0', '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4'])
      .output(out);
    await this.runJob(command, `joining ${files.length} segments into ${out}`);
  }

  /** A JPEG of the frame at `offsetSeconds` (or the first frame if that is past the end), ≤ 320 px wide and ≤ 24 KiB. */
  async extractThumbnail(input: string, offsetSeconds: number): Promise<Buffer> {
    let offset = Math.max(0, offsetSeconds);
    let jpeg: Buffer = Buffer.alloc(0);
    for (const step of THUMBNAIL_STEPS) {
      jpeg = await this.grabFrame(input, offset, step.width, step.quality);
      if (!jpeg.length && offset > 0) {
        this.log.debug('no frame at the thumbnail offset; using the first frame', { input, offset });
        offset = 0;
        jpeg = await this.grabFrame(input, offset, step.width, step.quality);
      }
      if (!jpeg.length) throw new Error(`no video frame in ${input}`);
      if (jpeg.length <= MAX_THUMBNAIL_BYTES) return jpeg;
    }
    throw new Error(`the thumbnail of ${input} stays above ${MAX_THUMBNAIL_BYTES} bytes (${jpeg.length}) even at 160 px`);
  }

  /** Duration in seconds, from ffprobe or, without it, from ffmpeg's report of the input. */
  async probeDuration(file: string): Promise<number> {
    const ffprobePath = this.paths.ffprobe;
    if (ffprobePath) {
      const data = await new Promise<ffmpeg.FfprobeData>((resolve, reject) =>
        this.command()
          .input(file)
          .setFfprobePath(ffprobePath)
          .ffprobe((err: Error | null, result) => (err ? reject(new Error(`ffprobe ${file}: ${err.message}`)) : resolve(result))),
      );
      const seconds = Number(data.format.duration);
      if (!Number.isFinite(seconds)) throw new Error(`ffprobe reports no duration for ${file}`);
      return seconds;
    }
    const stderr = await this.runJob(
      this.command(PROBE_STDERR_LINES).input(file).outputOptions(['-c', 'copy', '-f', 'null']).output('-'),
      `reading the duration of ${file}`,
    );
    const m = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(stderr);
    if (!m) throw new Error(`ffmpeg reports no duration for ${file}`);
    return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  }

  /** Whether drawtext works here: the filter is built in and fontconfig finds a font. */
  async canDrawText(): Promise<{ ok: true } | { ok: false; reason: string }> {
    const command = this.command()
      .input("testsrc2=size=64x64:rate=1,drawtext=text='0':fontsize=12")
      .inputOptions(['-f', 'lavfi'])
      .outputOptions(['-frames:v', '1', '-f', 'null'])
      .output('-');
    try {
      await this.runJob(command, 'checking drawtext');
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  }

  /** Starts a long-running ffmpeg with stdin open for `q`. Stop it with RunningFfmpeg.stop(). */
  spawn(args: string[], ladder: StopLadder = DEFAULT_STOP_LADDER): RunningFfmpeg {
    const child = spawn(this.paths.ffmpeg, ['-hide_banner', '-nostats', '-loglevel', 'warning', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const tail = new StderrTail();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => tail.push(text));
    child.stdout.resume();
    child.stdin.on('error', (err) => this.log.debug('ffmpeg stdin closed', { error: err.message }));
    const ended = new Promise<Omit<FfmpegExit, 'requested' | 'clean'>>((resolve) => {
      child.once('error', (err) => resolve({ code: null, signal: null, error: err.message }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    return new RunningFfmpeg(child, ended, tail, ladder, this.log);
  }

  private command(stderrLines = STDERR_LINES): FfmpegCommand {
    return ffmpeg({ logger: fluentLogger(this.log), stdoutLines: stderrLines }).setFfmpegPath(this.paths.ffmpeg);
  }

  private async grabFrame(input: string, offset: number, width: number, quality: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    // -ss after -i decodes up to the offset: exact, and it works on MPEG-TS segments, where input
    // seeking can land past the only keyframe and yield nothing.
    const command = this.command()
      .input(input)
      .outputOptions(['-ss', offset.toFixed(3), '-frames:v', '1', '-vf', `scale='min(${width},iw)':-2`])
      .outputOptions(['-q:v', String(quality), '-f', 'mjpeg'])
      .output(out);
    await this.runJob(command, `making a thumbnail of ${input}`);
    return Buffer.concat(chunks);
  }

  /** Runs a one-shot job; a job that hangs is interrupted with SIGINT, then killed. Resolves with stderr. */
  private runJob(command: FfmpegCommand, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let timedOut = false;
      let escalation: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        command.kill('SIGINT');
        escalation = setTimeout(() => command.kill('SIGKILL'), JOB_KILL_GRACE_MS);
      }, JOB_TIMEOUT_MS);
      const settle = (): void => {
        clearTimeout(timer);
        clearTimeout(escalation);
      };
      command.on('end', (_stdout: string | null, stderr: string | null) => {
        settle();
        resolve(stderr ?? '');
      });
      command.on('error', (err: Error) => {
        settle();
        const why = timedOut ? `no result after ${JOB_TIMEOUT_MS / 1000} s` : err.message.trim();
        reject(new Error(`${what} failed: ${why}`));
      });
      command.run();
    });
  }
}

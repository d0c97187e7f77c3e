/**
 * The one module that reaches ffmpeg. fluent-ffmpeg (archived upstream) runs the one-shot jobs: join,
 * thumbnail, probe. The long-running capture is spawned directly so it can be stopped the way ffmpeg
 * likes: `q`, then SIGINT, then SIGTERM, and SIGKILL only as the last resort (fluent's kill() starts
 * with SIGKILL). No `progress` listener is ever attached: fluent would run ffprobe on the input, a
 * second session many cameras refuse.
 */
import { execFile, spawn, type ChildProcessByStdio, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename, delimiter, dirname, join } from 'node:path';
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
const REPORT_TIMEOUT_MS = 15_000;
/** Marks a feeder's lines among ffmpeg's in RunningFfmpeg.stderr(). */
export const FEEDER_PREFIX = 'feeder: ';
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

/** The first executable `name` in a PATH folder, or null. */
export async function onPath(name: string): Promise<string | null> {
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
  /** How the feeder ended, when ffmpeg read from one (e.g. "rpicam-vid exited with code 255: no cameras available"). */
  feeder?: string;
}

/** A program whose stdout is ffmpeg's input (`-i pipe:0`), such as the Pi camera's rpicam-vid. */
export interface Feeder {
  command: string;
  args: string[];
}

export interface SpawnOptions {
  ladder?: StopLadder;
  /** Receives ffmpeg's stdout (the motion branch's raw frames); without it stdout is discarded. */
  onStdout?: (chunk: Buffer) => void;
  feeder?: Feeder;
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

/** A feeder process piped into ffmpeg: started with it, stopped first, and never outliving it. */
class RunningFeeder {
  readonly tail = new StderrTail();
  readonly ended: Promise<string>;

  constructor(
    private readonly child: ChildProcessByStdio<null, Readable, Readable>,
    private readonly name: string,
  ) {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => this.tail.push(text));
    this.ended = new Promise((resolve) => {
      child.once('error', (err) => resolve(`${name} could not start: ${err.message}`));
      child.once('close', (code, signal) => {
        const last = this.tail.get().at(-1);
        resolve(`${name} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${last ? `: ${last}` : ''}`);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async end(graceMs: number): Promise<string> {
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.ended;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A long-running ffmpeg started by FfmpegTools.spawn(), with its feeder if it has one. */
export class RunningFfmpeg {
  private stopping: Promise<FfmpegExit> | null = null;
  private readonly ended: Promise<Omit<FfmpegExit, 'requested' | 'clean'>>;

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    ffmpegEnded: Promise<Omit<FfmpegExit, 'requested' | 'clean' | 'feeder'>>,
    private readonly tail: StderrTail,
    private readonly ladder: StopLadder,
    private readonly log: Logger,
    private readonly feeder: RunningFeeder | null,
  ) {
    // Settles only once both are gone, so a restart never meets a camera its old feeder still holds.
    this.ended = ffmpegEnded.then(async (end) => (feeder ? { ...end, feeder: await feeder.end(ladder.afterSigtermMs) } : end));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get feederPid(): number | undefined {
    return this.feeder?.pid;
  }

  /** Settles once, when the process has gone (by itself or by stop()). */
  get exited(): Promise<FfmpegExit> {
    return this.ended.then((end) => {
      const requested = this.stopping !== null;
      const byInterrupt = end.code === 0 || end.code === 255 || end.signal === 'SIGINT' || end.signal === 'SIGTERM';
      return { ...end, requested, clean: requested && byInterrupt };
    });
  }

  /** The last ~20 stderr lines of ffmpeg (then of its feeder), for error messages. */
  stderr(): string[] {
    const feederLines = this.feeder ? this.feeder.tail.get().map((line) => `${FEEDER_PREFIX}${line}`) : [];
    return [...this.tail.get(), ...feederLines];
  }

  /**
   * `q` on stdin, then SIGINT, then SIGTERM, and SIGKILL only when all of those were ignored. With a
   * feeder, stdin is the video: the first step stops the feeder instead, and ffmpeg, seeing the end
   * of its input, closes the last segment and exits.
   */
  stop(): Promise<FfmpegExit> {
    this.stopping ??= this.climbLadder();
    return this.stopping;
  }

  private async climbLadder(): Promise<FfmpegExit> {
    let gone = false;
    void this.ended.then(() => (gone = true));
    const feeder = this.feeder;
    const quit: [string, () => void] = feeder ? ['SIGINT to the feeder', () => feeder.signal('SIGINT')] : ['q', () => this.child.stdin.end('q')];
    const steps: [string, () => void, number][] = [
      [...quit, this.ladder.afterQuitMs],
      ['SIGINT', () => this.child.kill('SIGINT'), this.ladder.afterSigintMs],
      ['SIGTERM', () => this.child.kill('SIGTERM'), this.ladder.afterSigtermMs],
      ['SIGKILL', () => this.child.kill('SIGKILL'), 0],
    ];
    for (const [step, send, waitMs] of steps) {
      if (gone) break;
      if (step === quit[0]) this.log.debug(`asking ffmpeg to stop (${step})`, { pid: this.child.pid });
      else this.log.warn(`ffmpeg did not stop; sending ${step}`, { pid: this.child.pid });
      send();
      if (waitMs > 0) await Promise.race([this.ended, delay(waitMs)]);
    }
    return this.exited;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Encoder names from `ffmpeg -encoders` (lines such as ` V....D libx264   libx264 H.264 ...`). */
export function parseEncoderList(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s[VAS.][F.][S.][X.][B.][D.]\s+(\S+)/.exec(line);
    if (m && m[1] !== '=') names.add(m[1]!);
  }
  return names;
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

  /**
   * Starts a long-running ffmpeg with stdin open for `q`, or fed by `options.feeder`'s stdout.
   * Stop it with RunningFfmpeg.stop(). A `ladder` given directly is the older form of `options.ladder`.
   */
  spawn(args: string[], ladder?: StopLadder, options: SpawnOptions = {}): RunningFfmpeg {
    const feeder = options.feeder ? this.startFeeder(options.feeder) : null;
    const child = spawn(this.paths.ffmpeg, ['-hide_banner', '-nostats', '-loglevel', 'warning', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const tail = new StderrTail();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => tail.push(text));
    const onStdout = options.onStdout;
    if (onStdout) child.stdout.on('data', (chunk: Buffer) => onStdout(chunk));
    else child.stdout.resume();
    child.stdin.on('error', (err) => this.log.debug('ffmpeg stdin closed', { error: err.message }));
    if (feeder) feeder.stdout.pipe(child.stdin);
    const ended = new Promise<Omit<FfmpegExit, 'requested' | 'clean' | 'feeder'>>((resolve) => {
      child.once('error', (err) => resolve({ code: null, signal: null, error: err.message }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    return new RunningFfmpeg(child, ended, tail, ladder ?? options.ladder ?? DEFAULT_STOP_LADDER, this.log, feeder?.running ?? null);
  }

  /** Runs ffmpeg to completion and returns its stderr whatever the exit code (listing a device's formats "fails" by design). */
  async report(args: string[], timeoutMs = REPORT_TIMEOUT_MS): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      execFile(this.paths.ffmpeg, ['-hide_banner', ...args], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        if (e && typeof e.code === 'string') reject(new Error(`ffmpeg ${args.join(' ')} could not run: ${e.message}`));
        else if (e?.killed) reject(new Error(`ffmpeg ${args.join(' ')} gave no result within ${timeoutMs / 1000} s`));
        else resolve({ code: e ? Number(e.code ?? 1) : 0, stderr });
      });
    });
  }

  /** The encoders this ffmpeg was built with (a listed hardware encoder may still lack its hardware). */
  async encoders(): Promise<Set<string>> {
    const { stdout } = await promisify(execFile)(this.paths.ffmpeg, ['-hide_banner', '-encoders'], { timeout: REPORT_TIMEOUT_MS });
    return parseEncoderList(stdout);
  }

  private startFeeder(feeder: Feeder): { stdout: Readable; running: RunningFeeder } {
    const child = spawn(feeder.command, feeder.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const running = new RunningFeeder(child, basename(feeder.command));
    return { stdout: child.stdout, running };
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

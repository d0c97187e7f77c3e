/**
 * The one module that reaches ffmpeg. fluent-ffmpeg (the product brief's choice, archived upstream)
 * runs the one-shot jobs; it lists ffmpeg's formats once per process to check output formats, and no
 * `progress` listener is ever attached (it would ffprobe the input). The long-running capture is
 * spawned directly so it can be stopped the way ffmpeg likes: `q`, then SIGINT, then SIGTERM, and
 * SIGKILL only as the last resort (fluent's kill() starts with SIGKILL). The one-shot jobs are cheap
 * by design: a clip is remuxed from its MPEG-TS segments without decoding (inside node for H.264,
 * so without an ffmpeg at all), and a thumbnail decodes a single keyframe.
 */
import { execFile, spawn, type ChildProcessByStdio, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename, delimiter, dirname, join, resolve as resolvePath } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import ffmpeg from 'fluent-ffmpeg';
import type { Logger } from '../log.js';
import { NotRemuxable } from './mpegts.js';
import { SegmentRemuxer } from './ts-to-mp4.js';

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
const MAX_JOB_STDERR = 64 * 1024;
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
  /** Receives what ffmpeg writes to its file descriptor 3 (`pipe:3`: the segment list, a line per closed segment). */
  onPipe3?: (chunk: Buffer) => void;
  feeder?: Feeder;
}

export interface JobOptions {
  /** Interrupt the job after this long (default 60 s). */
  timeoutMs?: number;
}

/** What a join wrote, from ffmpeg's own progress report. */
export interface JoinResult {
  frames: number;
  seconds: number;
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
  /** One per camera, so clip after clip reuses its buffers. */
  private readonly remuxer = new SegmentRemuxer();

  constructor(
    readonly paths: FfmpegPaths,
    private readonly log: Logger,
  ) {}

  /**
   * Joins closed MPEG-TS segments into an MP4 with its index up front. H.264 is remuxed inside node
   * (ts-to-mp4.ts: no process to start); anything else by ffmpeg, which reads the segments of one
   * folder byte by byte (the `concat:` protocol: no probing of each segment, no decode).
   */
  async joinSegments(files: string[], out: string, options: JobOptions = {}): Promise<JoinResult> {
    if (!files.length) throw new Error('no segments to join');
    try {
      return await this.remuxer.remux(files, resolvePath(out), Date.now() + (options.timeoutMs ?? JOB_TIMEOUT_MS));
    } catch (err) {
      if (!(err instanceof NotRemuxable)) throw err;
      this.log.debug('ffmpeg joins this clip', { reason: err.message });
    }
    const folder = dirname(files[0]!);
    const names = files.map((f) => basename(f));
    if (files.some((f) => dirname(f) !== folder) || names.some((n) => n.includes('|'))) {
      throw new Error(`segments to join must share one folder and have no "|" in their names: ${files.join(', ')}`);
    }
    const what = `joining ${files.length} segments into ${out}`;
    const { stdout } = await this.runJob(
      // The segments start new MPEG-TS muxers, so continuity counters jump at each boundary: harmless, not worth a warning.
      ['-loglevel', 'error', '-i', `concat:${names.join('|')}`, '-map', '0:v:0', '-c', 'copy', '-movflags', '+faststart',
        // The store's temp name does not end in .mp4, so the format is named.
        '-f', 'mp4', '-progress', 'pipe:1', '-y', resolvePath(out)],
      what,
      { ...options, cwd: folder },
    );
    const report = stdout.toString('utf8');
    const last = (key: string): number => Number([...report.matchAll(new RegExp(`^${key}=(\\d+)$`, 'gm'))].at(-1)?.[1] ?? 0);
    const frames = last('frame');
    // A damaged segment can make ffmpeg write a file with nothing playable in it.
    if (!(frames > 0)) throw new Error(`joining ${files.length} segments gave a clip with no video`);
    return { frames, seconds: last('out_time_us') / 1e6 };
  }

  /**
   * A JPEG of the keyframe at or before `offsetSeconds` (or the first one, when seeking finds none),
   * ≤ 320 px wide and ≤ 24 KiB. Only that keyframe is decoded, never the frames around it.
   */
  async extractThumbnail(input: string, offsetSeconds: number): Promise<Buffer> {
    let offset = Math.max(0, offsetSeconds);
    let jpeg: Buffer = Buffer.alloc(0);
    for (const step of THUMBNAIL_STEPS) {
      jpeg = await this.grabKeyframe(input, offset, step.width, step.quality);
      if (!jpeg.length && offset > 0) {
        this.log.debug('no keyframe at the thumbnail offset; using the first one', { input, offset });
        offset = 0;
        jpeg = await this.grabKeyframe(input, offset, step.width, step.quality);
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
        ffmpeg({ logger: fluentLogger(this.log) })
          .input(file)
          .setFfprobePath(ffprobePath)
          .ffprobe((err: Error | null, result) => (err ? reject(new Error(`ffprobe ${file}: ${err.message}`)) : resolve(result))),
      );
      const seconds = Number(data.format.duration);
      if (!Number.isFinite(seconds)) throw new Error(`ffprobe reports no duration for ${file}`);
      return seconds;
    }
    const { stderr } = await this.runJob(['-i', file, '-c', 'copy', '-f', 'null', '-'], `reading the duration of ${file}`);
    const m = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(stderr);
    if (!m) throw new Error(`ffmpeg reports no duration for ${file}`);
    return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  }

  /** Whether drawtext works here: the filter is built in and fontconfig finds a font. */
  async canDrawText(): Promise<{ ok: true } | { ok: false; reason: string }> {
    const args = ['-loglevel', 'error', '-f', 'lavfi', '-i', "testsrc2=size=64x64:rate=1,drawtext=text='0':fontsize=12", '-frames:v', '1', '-f', 'null', '-'];
    try {
      await this.runJob(args, 'checking drawtext');
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
      stdio: ['pipe', 'pipe', 'pipe', options.onPipe3 ? 'pipe' : 'ignore'],
    }) as unknown as ChildProcessWithoutNullStreams;
    const tail = new StderrTail();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => tail.push(text));
    const onStdout = options.onStdout;
    if (onStdout) child.stdout.on('data', (chunk: Buffer) => onStdout(chunk));
    else child.stdout.resume();
    const onPipe3 = options.onPipe3;
    if (onPipe3) (child.stdio[3] as Readable).on('data', (chunk: Buffer) => onPipe3(chunk));
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

  private async grabKeyframe(input: string, offset: number, width: number, quality: number): Promise<Buffer> {
    const { stdout } = await this.runJob(
      [
        '-loglevel', 'error', '-threads', '1',
        // Input seeking lands on the keyframe before the offset; only keyframes are decoded.
        ...(offset > 0 ? ['-ss', offset.toFixed(3), '-noaccurate_seek'] : []),
        '-skip_frame', 'nokey', '-i', input,
        '-frames:v', '1', '-vf', `scale='min(${width},iw)':-2`, '-q:v', String(quality), '-f', 'mjpeg', 'pipe:1',
      ],
      `making a thumbnail of ${input}`,
    );
    return stdout;
  }

  /**
   * Runs a one-shot ffmpeg job through fluent-ffmpeg: `args` are ffmpeg's own, split at `-i` into the
   * input's options, the input, the output's options and the output (`pipe:1` collects stdout).
   * A job that hangs is interrupted with SIGINT, then killed (fluent's own timeout starts with SIGKILL).
   */
  private runJob(args: string[], what: string, options: JobOptions & { cwd?: string } = {}): Promise<{ stdout: Buffer; stderr: string }> {
    const timeoutMs = options.timeoutMs ?? JOB_TIMEOUT_MS;
    const at = args.indexOf('-i');
    if (at < 0 || at + 1 >= args.length - 1) throw new Error(`${what}: an ffmpeg job needs -i INPUT and an output`);
    const output = args[args.length - 1]!;
    const chunks: Buffer[] = [];
    const sink = output === 'pipe:1' ? new PassThrough().on('data', (chunk: Buffer) => chunks.push(chunk)) : null;
    const command = ffmpeg({ logger: fluentLogger(this.log), stdoutLines: 0, ...(options.cwd ? { cwd: options.cwd } : {}) })
      .setFfmpegPath(this.paths.ffmpeg)
      .input(args[at + 1]!)
      .inputOptions(['-hide_banner', ...args.slice(0, at)])
      .outputOptions(args.slice(at + 2, -1))
      .output(sink ?? output);
    return new Promise((resolve, reject) => {
      let timedOut = false;
      let escalation: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        command.kill('SIGINT');
        escalation = setTimeout(() => command.kill('SIGKILL'), JOB_KILL_GRACE_MS);
      }, timeoutMs);
      const settle = (): void => {
        clearTimeout(timer);
        clearTimeout(escalation);
      };
      // fluent spawns ffmpeg only after its own checks: a time limit that ran out before is applied now.
      command.on('start', () => {
        if (timedOut) command.kill('SIGKILL');
      });
      command.on('end', (stdout: string | null, stderr: string | null) => {
        settle();
        resolve({ stdout: sink ? Buffer.concat(chunks) : Buffer.from(stdout ?? '', 'utf8'), stderr: (stderr ?? '').slice(-MAX_JOB_STDERR) });
      });
      command.on('error', (err: Error) => {
        settle();
        const why = timedOut ? `no result after ${timeoutMs / 1000} s` : err.message.trim().split('\n').at(-1);
        reject(new Error(`${what} failed: ${why}`));
      });
      command.run();
    });
  }
}

/**
 * Capture against real ffmpeg: one synthetic 320x240 camera with 1 s segments runs for the whole
 * file, and each test attaches its own clip recorder to it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  Capture,
  ClipRecorder,
  FfmpegTools,
  locateFfmpeg,
  PreRollRing,
  SyntheticSource,
  type CameraHealth,
  type ClipSink,
  type FfmpegPaths,
  type Segment,
} from '../../agent/capture/index.js';
import { systemClock } from '../../agent/clock.js';
import { parseConfig } from '../../agent/config.js';
import type { Trigger } from '../../agent/events.js';
import { createLogger, type Logger } from '../../agent/log.js';
import type { ClipRecord, NewClip } from '../../agent/store/index.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { FolderSink } from '../fixtures/camera/clip-sink.js';

const PRE_ROLL = 3;
const POST_ROLL = 3;
const SEGMENT = 1;
const STALL = 3;
const FPS = 15;

function probe(file: string, entries: string): Record<string, string> {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', entries, '-of', 'json', file], {
    encoding: 'utf8',
  });
  const json = JSON.parse(out) as { streams?: Record<string, string>[]; format?: Record<string, string> };
  return { ...json.format, ...json.streams?.[0] };
}


interface Recorded {
  recorder: ClipRecorder;
  sink: FolderSink;
  ready: ClipRecord[];
  failed: { clipId: string; error: string }[];
  snapshots: { clipId: string; jpeg: Buffer }[];
}

describe('capture with a synthetic camera', () => {
  let dir: string;
  let paths: FfmpegPaths;
  let log: Logger;
  const logLines: { msg: string; pid?: number }[] = [];
  let ring: PreRollRing;
  const recorders = new Set<ClipRecorder>();
  const seen: Segment[] = [];
  const closedAt = new Map<string, number>();
  const healthEvents: CameraHealth[] = [];

  function attachRecorder(maxClipSeconds: number, overrides: { preRollSeconds?: number; postRollSeconds?: number } = {}): Recorded {
    const sink = new FolderSink(mkdtempSync(join(dir, 'clips-')));
    const recorder = new ClipRecorder({
      segments: () => ring.segments(),
      tools: new FfmpegTools(paths, log),
      sink,
      clock: systemClock,
      log,
      preRollSeconds: overrides.preRollSeconds ?? PRE_ROLL,
      postRollSeconds: overrides.postRollSeconds ?? POST_ROLL,
      maxClipSeconds,
      finishGraceMs: 5_000,
    });
    const recorded: Recorded = { recorder, sink, ready: [], failed: [], snapshots: [] };
    recorder.on('clip-ready', ({ clip }) => recorded.ready.push(clip));
    recorder.on('clip-failed', (e) => recorded.failed.push(e));
    recorder.on('snapshot', (e) => recorded.snapshots.push(e));
    ring.on('segment', () => recorder.segmentClosed());
    recorder.start();
    recorders.add(recorder);
    return recorded;
  }

  const press = (kind: Trigger['kind'] = 'ring'): Trigger => ({ kind, source: 'button', at: Date.now() });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'doorbell-capture-'));
    log = createLogger({ level: 'debug', sink: { write: (line) => void logLines.push(JSON.parse(line) as { msg: string }) } });
    paths = await locateFfmpeg();
    const tools = new FfmpegTools(paths, log);
    const source = new SyntheticSource({ width: 320, height: 240, fps: FPS, segmentSeconds: SEGMENT });
    await source.prepare(tools, log);
    expect(source.describe()).toContain('with a clock');
    ring = new PreRollRing({
      source,
      tools,
      dir: join(dir, 'segments'),
      segmentSeconds: SEGMENT,
      preRollSeconds: PRE_ROLL,
      stallSeconds: STALL,
      connectTimeoutSeconds: 1,
      clock: systemClock,
      log,
      retainFrom: () => {
        const starts = [...recorders].map((r) => r.retainFrom()).filter((t): t is number => t !== null);
        return starts.length ? Math.min(...starts) : null;
      },
      stopLadder: { afterQuitMs: 1_000, afterSigintMs: 1_000, afterSigtermMs: 1_000 },
    });
    ring.on('segment', (s) => {
      seen.push(s);
      closedAt.set(s.path, statSync(s.path).mtimeMs);
    });
    ring.on('health', (h) => healthEvents.push(h));
    await ring.start();
    await waitFor('a full pre-roll', () => {
      const s = ring.segments();
      return s.length > 0 && s.at(-1)!.end - s[0]!.start >= (PRE_ROLL + SEGMENT) * 1000;
    });
  });

  afterAll(async () => {
    await Promise.all([...recorders].map((r) => r.stop()));
    await ring?.stop();
    await ring?.clear();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records a clip with the pre-roll before the press, a snapshot and a small thumbnail', async () => {
    const { recorder, sink, ready, snapshots } = attachRecorder(30);
    const bell = press();
    const clipId = recorder.trigger(bell).clipId;
    const clip = await waitFor('the clip', () => ready.find((c) => c.id === clipId));

    expect(clip.start).toBeLessThanOrEqual(bell.at - (PRE_ROLL - SEGMENT) * 1000);
    expect(clip.end).toBeGreaterThanOrEqual(bell.at + POST_ROLL * 1000);
    expect(clip.kind).toBe('ring');
    expect(clip.triggeredAt).toBe(bell.at);
    // The first segment really was filmed before the pre-roll began: its file closed (mtime) one segment after it started.
    const first = seen.find((s) => s.start === clip.start)!;
    expect(closedAt.get(first.path)! - SEGMENT * 1000).toBeLessThanOrEqual(bell.at - PRE_ROLL * 1000 + 300);

    const video = probe(clip.path, 'format=duration:stream=nb_frames,codec_name');
    const seconds = Number(video.duration);
    expect(seconds).toBeGreaterThanOrEqual(PRE_ROLL + POST_ROLL - 0.1);
    expect(seconds).toBeLessThanOrEqual(PRE_ROLL + POST_ROLL + SEGMENT + 0.2);
    expect(seconds).toBeCloseTo((clip.end - clip.start) / 1000, 0);
    // Frames before the press cover the whole pre-roll.
    const framesBeforePress = ((bell.at - clip.start) / 1000) * FPS;
    expect(framesBeforePress).toBeGreaterThanOrEqual(PRE_ROLL * FPS);
    expect(Number(video.nb_frames)).toBeGreaterThanOrEqual(framesBeforePress + (POST_ROLL * FPS) - 1);
    expect(video.codec_name).toBe('h264');

    const bytes = readFileSync(clip.path);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(clip.sha256);
    expect(bytes.length).toBe(clip.bytes);
    // +faststart: the index comes before the media.
    expect(bytes.indexOf('moov')).toBeLessThan(bytes.indexOf('mdat'));
    expect(sink.aborted).toEqual([]);

    const thumb = clip.thumbnail!;
    expect(thumb.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(thumb.length).toBeLessThanOrEqual(24 * 1024);
    const thumbFile = join(dir, 'thumb.jpg');
    writeFileSync(thumbFile, thumb);
    const image = probe(thumbFile, 'stream=width,height');
    expect(Number(image.width)).toBeLessThanOrEqual(320);
    expect(Number(image.height)).toBeGreaterThan(0);
    // The snapshot came first and is reused as the thumbnail.
    expect(snapshots.filter((s) => s.clipId === clipId).map((s) => s.jpeg)).toContainEqual(thumb);
  });

  it('joins rings 3 s apart into one clip, and starts a new clip past maxClipSeconds', async () => {
    const long = attachRecorder(30);
    const short = attachRecorder(6);
    const first = press();
    const longFirst = long.recorder.trigger(first).clipId;
    const shortFirst = short.recorder.trigger(first).clipId;
    await sleep(3_000);
    const second = press();
    expect(long.recorder.trigger(second).clipId).toBe(longFirst);
    const shortSecond = short.recorder.trigger(second).clipId;
    expect(shortSecond).not.toBe(shortFirst);

    const joined = await waitFor('the joined clip', () => long.ready[0]);
    const [a, b] = await waitFor('both short clips', () => short.ready.length === 2 && short.ready);
    await sleep(500);
    expect(long.ready).toHaveLength(1);
    expect(long.sink.begun.size).toBe(1);
    expect(joined.id).toBe(longFirst);
    expect(joined.start).toBeLessThanOrEqual(first.at - PRE_ROLL * 1000);
    expect(joined.end).toBeGreaterThanOrEqual(second.at + POST_ROLL * 1000);
    // Longer than the pre-roll ring keeps: the recorder held its segments.
    expect(Number(probe(joined.path, 'format=duration').duration)).toBeCloseTo((joined.end - joined.start) / 1000, 0);

    const byId = new Map([a!, b!].map((c) => [c.id, c]));
    const one = byId.get(shortFirst)!;
    const two = byId.get(shortSecond)!;
    expect(one.end - one.start).toBeLessThanOrEqual((6 + SEGMENT) * 1000 + 100);
    expect(two.start).toBeGreaterThan(first.at);
    // Clips meet at a segment boundary: at most the one segment holding the cut is in both.
    expect(two.start).toBeGreaterThanOrEqual(one.end - SEGMENT * 1000 - 100);
    expect(two.end).toBeGreaterThanOrEqual(second.at + POST_ROLL * 1000);
  });

  it('joins segments byte by byte into a faststart MP4 as long as the segments', async () => {
    const segments = ring.segments().slice(-4);
    const out = join(dir, 'joined.mp4');
    const result = await new FfmpegTools(paths, log).joinSegments(segments.map((s) => s.path), out);
    const seconds = (segments.at(-1)!.end - segments[0]!.start) / 1000;
    const video = probe(out, 'format=duration,format_name:stream=nb_frames');
    expect(Number(video.duration)).toBeCloseTo(seconds, 0);
    expect(video.format_name).toContain('mp4');
    expect(Number(video.nb_frames)).toBe(result.frames);
    expect(result.frames).toBeGreaterThanOrEqual(Math.round(seconds * FPS) - 1);
    const bytes = readFileSync(out);
    expect(bytes.indexOf('moov')).toBeLessThan(bytes.indexOf('mdat'));
  });

  it('keeps a clip whose join timed out, with its segments, and writes it on the retry', async () => {
    const sink = new FolderSink(mkdtempSync(join(dir, 'clips-')));
    const tools = new FfmpegTools(paths, log);
    const attempts: (number | undefined)[] = [];
    const recorder = new ClipRecorder({
      segments: () => ring.segments(),
      tools: {
        extractThumbnail: (input, offset) => tools.extractThumbnail(input, offset),
        // The first attempt gets no time at all, as on a machine far too busy to join in time.
        joinSegments: (files, out, options) => {
          attempts.push(options?.timeoutMs);
          return tools.joinSegments(files, out, attempts.length === 1 ? { timeoutMs: 0 } : options);
        },
      },
      sink,
      clock: systemClock,
      log,
      preRollSeconds: PRE_ROLL,
      postRollSeconds: 1,
      maxClipSeconds: 30,
      finishGraceMs: 5_000,
      joinTimeoutMs: 20_000,
      // Longer than the ring keeps unclaimed segments (pre-roll + 2 segments + 1 s).
      joinRetryMs: (PRE_ROLL + 2 * SEGMENT + 3) * 1000,
    });
    const ready: ClipRecord[] = [];
    const failed: string[] = [];
    recorder.on('clip-ready', ({ clip }) => ready.push(clip));
    recorder.on('clip-failed', ({ error }) => failed.push(error));
    ring.on('segment', () => recorder.segmentClosed());
    recorder.start();
    recorders.add(recorder);
    const mark = logLines.length;
    const bell = press();
    const clipId = recorder.trigger(bell).clipId;
    const clip = await waitFor('the clip after the retry', () => ready.find((c) => c.id === clipId), 40_000);
    expect(failed).toEqual([]);
    expect(attempts).toEqual([20_000, 40_000]);
    expect(logLines.slice(mark).some((l) => /join is tried again/.test(l.msg))).toBe(true);
    expect(clip.start).toBeLessThanOrEqual(bell.at - (PRE_ROLL - SEGMENT) * 1000);
    expect(Number(probe(clip.path, 'format=duration').duration)).toBeCloseTo((clip.end - clip.start) / 1000, 0);
  });

  it('aborts a clip the store cannot take and keeps recording', async () => {
    const rec = attachRecorder(30, { preRollSeconds: 1, postRollSeconds: 1 });
    rec.sink.failCommits = 1;
    const lost = rec.recorder.trigger(press('motion')).clipId;
    const failure = await waitFor('the failed clip', () => rec.failed.find((f) => f.clipId === lost));
    expect(failure.error).toContain('no space left on device');
    expect(rec.sink.aborted).toEqual([lost]);
    expect(readdirSync(join(rec.sink.temp(lost), '..'))).toEqual([]);

    const kept = rec.recorder.trigger(press('motion')).clipId;
    expect(kept).not.toBe(lost);
    const clip = await waitFor('the next clip', () => rec.ready.find((c) => c.id === kept));
    expect(clip.kind).toBe('motion');
    expect(statSync(clip.path).size).toBe(clip.bytes);
  });

  it('fails a clip clearly when the camera gave no video for it', async () => {
    const sink = new FolderSink(mkdtempSync(join(dir, 'clips-')));
    const recorder = new ClipRecorder({
      segments: () => [],
      tools: new FfmpegTools(paths, log),
      sink,
      clock: systemClock,
      log,
      preRollSeconds: 0,
      postRollSeconds: 0.2,
      maxClipSeconds: 5,
      finishGraceMs: 100,
    });
    const failed: string[] = [];
    recorder.on('clip-failed', ({ error }) => failed.push(error));
    recorder.start();
    recorder.trigger(press());
    const error = await waitFor('the failure', () => failed[0]);
    expect(error).toMatch(/no video from the camera between/);
    expect(sink.begun.size).toBe(0);
    await recorder.stop();
  });

  it('keeps only the pre-roll window of segments on tmpfs', async () => {
    await sleep(500);
    const files = readdirSync(join(dir, 'segments')).filter((f) => f.endsWith('.ts'));
    // Closed segments ending within pre-roll + two segments + 1 s margin, up to four more waiting
    // for a batch of five to delete, one closed since the last look at the list, and the one being written.
    expect(files.length).toBeLessThanOrEqual(PRE_ROLL + 2 * SEGMENT + 1 + 4 + 2);
    const kept = ring.segments();
    expect(kept.at(-1)!.end - kept[0]!.start).toBeGreaterThanOrEqual(PRE_ROLL * 1000);
    expect(seen.length).toBeGreaterThan(files.length + 5);
  });

  it('restarts a killed ffmpeg and never reuses a segment name', async () => {
    const before = ring.health();
    const pid = ring.pid()!;
    const newestBefore = seen.at(-1)!.path;
    process.kill(pid, 'SIGKILL');
    await waitFor('the camera to be reported down', () => !ring.health().ok);
    const health = await waitFor('the camera back', () => (ring.health().ok ? ring.health() : null));
    expect(health.restarts).toBe(before.restarts + 1);
    expect(ring.pid()).not.toBe(pid);
    expect(healthEvents.some((h) => !h.ok && /killed by SIGKILL/.test(h.detail ?? ''))).toBe(true);
    const names = seen.map((s) => s.path);
    expect(new Set(names).size).toBe(names.length);
    expect(names.at(-1)! > newestBefore).toBe(true);
    expect(health.lastGap).not.toBeNull();
  });

  it('stops a stalled ffmpeg gracefully first, then restarts it', async () => {
    const restarts = ring.health().restarts;
    const pid = ring.pid()!;
    const mark = logLines.length;
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor('the stall', () => /no video/.test(ring.health().detail ?? ''));
      const health = await waitFor('the camera back', () => (ring.health().ok && ring.pid() !== pid ? ring.health() : null));
      expect(health.restarts).toBeGreaterThan(restarts);
    } finally {
      try {
        process.kill(pid, 'SIGCONT');
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ESRCH');
      }
    }
    // Only the stalled process's ladder: on a loaded machine an earlier, unrelated stall may interleave.
    const ladder = logLines
      .slice(mark)
      .filter((l) => l.pid === pid)
      .map((l) => l.msg)
      .filter((m) => /stop \(q\)|sending SIG/.test(m));
    expect(ladder).toEqual([
      'asking ffmpeg to stop (q)',
      'ffmpeg did not stop; sending SIGINT',
      'ffmpeg did not stop; sending SIGTERM',
      'ffmpeg did not stop; sending SIGKILL',
    ]);
    const names = seen.map((s) => s.path);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('ffmpeg tools', () => {
  let dir: string;
  let paths: FfmpegPaths;
  let tools: FfmpegTools;
  const silent = createLogger({ level: 'error', sink: { write: () => undefined } });

  function makeVideo(name: string, graph: string, seconds: number): string {
    const file = join(dir, name);
    const encode = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', graph, '-t', String(seconds), ...encode, file]);
    return file;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'doorbell-ffmpeg-'));
    paths = await locateFfmpeg();
    tools = new FfmpegTools(paths, silent);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds ffmpeg and ffprobe on PATH, and refuses a configured path that does not exist', async () => {
    expect(paths.ffmpeg).toMatch(/\/ffmpeg$/);
    expect(paths.ffprobe).toMatch(/\/ffprobe$/);
    expect(paths.version).toMatch(/\d/);
    await expect(locateFfmpeg(join(dir, 'no-such-ffmpeg'))).rejects.toThrow(/not an executable file/);
    expect(await locateFfmpeg(paths.ffmpeg)).toEqual(paths);
  });

  it('falls back to the npm binary (without ffprobe), or says how to install ffmpeg', async () => {
    const saved = process.env.PATH;
    process.env.PATH = dir;
    try {
      const found = await locateFfmpeg().catch((err: Error) => err);
      if (found instanceof Error) expect(found.message).toMatch(/apt-get install ffmpeg/);
      else expect(found).toMatchObject({ ffmpeg: expect.stringContaining('@ffmpeg-installer'), ffprobe: null });
    } finally {
      process.env.PATH = saved;
    }
  });

  it('reads a duration with ffprobe and, without it, from ffmpeg', async () => {
    const file = makeVideo('two.mp4', 'testsrc2=size=160x120:rate=10', 2);
    expect(await tools.probeDuration(file)).toBeCloseTo(2, 1);
    expect(await new FfmpegTools({ ...paths, ffprobe: null }, silent).probeDuration(file)).toBeCloseTo(2, 1);
    await expect(tools.probeDuration(join(dir, 'missing.mp4'))).rejects.toThrow(/missing\.mp4/);
  });

  it('shrinks a thumbnail of a detailed picture below 24 KiB, and uses the first frame past the end', async () => {
    // Tall noise: 320 px wide it is ~50 KB even at -q:v 20, so only a narrower thumbnail fits.
    const noise = makeVideo('noise.mp4', 'nullsrc=size=480x960:rate=5,geq=lum=random(1)*255:cb=random(2)*255:cr=random(3)*255', 1);
    const jpeg = await tools.extractThumbnail(noise, 10);
    expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(jpeg.length).toBeLessThanOrEqual(24 * 1024);
    const thumbFile = join(dir, 'noise.jpg');
    writeFileSync(thumbFile, jpeg);
    expect(Number(probe(thumbFile, 'stream=width').width)).toBeLessThan(320);
  });
});

describe('Capture', () => {
  it('writes the open clip with what exists when stopped, then frees tmpfs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-capture-stop-'));
    const config = parseConfig({
      runtime: { dir: join(dir, 'run') },
      storage: { dir: join(dir, 'store') },
      camera: { stallSeconds: 5, synthetic: { width: 320, height: 240, fps: 10 } },
      record: { preRollSeconds: 2, postRollSeconds: 60, maxClipSeconds: 120, segmentSeconds: 1 },
    });
    const log = createLogger({ level: 'error', sink: { write: () => undefined } });
    const sink = new FolderSink(dir);
    const capture = new Capture({ config, ffmpeg: await locateFfmpeg(), sink, clock: systemClock, log });
    const ready: ClipRecord[] = [];
    const snapshots: string[] = [];
    capture.on('clip-ready', ({ clip }) => ready.push(clip));
    capture.on('snapshot', ({ clipId }) => snapshots.push(clipId));
    expect(() => capture.trigger({ kind: 'ring', source: 'manual', at: Date.now() })).toThrow(/not running/);
    try {
      await capture.start();
      await waitFor('video', () => capture.health().ok);
      await sleep(2_500);
      const bell: Trigger = { kind: 'ring', source: 'manual', at: Date.now() };
      const { clipId } = capture.trigger(bell);
      await waitFor('the snapshot', () => snapshots.includes(clipId));
      await capture.stop();
      expect(ready.map((c) => c.id)).toEqual([clipId]);
      const clip = ready[0]!;
      expect(clip.start).toBeLessThanOrEqual(bell.at - 1_000);
      expect(clip.end).toBeGreaterThan(bell.at);
      expect(clip.end).toBeLessThan(bell.at + 60_000);
      expect(Number(probe(clip.path, 'format=duration').duration)).toBeGreaterThan((bell.at - clip.start) / 1000);
      expect(readdirSync(join(config.runtime.dir, 'segments'))).toEqual([]);
      expect(capture.health()).toMatchObject({ ok: false, detail: 'stopped' });
    } finally {
      await capture.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PreRollRing without timers', () => {
  it('learns of each closed segment from ffmpeg as it happens, with no polling timer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'doorbell-ring-events-'));
    const log = createLogger({ level: 'error', sink: { write: () => undefined } });
    const tools = new FfmpegTools(await locateFfmpeg(), log);
    const source = new SyntheticSource({ width: 160, height: 120, fps: 10, segmentSeconds: 1 });
    await source.prepare(tools, log);
    const ring = new PreRollRing({ source, tools, dir, segmentSeconds: 1, preRollSeconds: 2, stallSeconds: 30, connectTimeoutSeconds: 10, clock: systemClock, log });
    // No timer ever fires from here on: whatever the ring learns, it learns from ffmpeg's own output.
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'setImmediate'] });
    try {
      const three = new Promise<Segment[]>((resolve) => {
        const got: Segment[] = [];
        ring.on('segment', (s) => got.push(s) === 3 && resolve(got));
      });
      await ring.start();
      const segments = await three;
      expect(segments.map((s) => statSync(s.path).size > 0)).toEqual([true, true, true]);
      expect(ring.health().ok).toBe(true);
      expect(readdirSync(dir).filter((f) => !f.endsWith('.ts') && !f.endsWith('.pids'))).toEqual([]);
    } finally {
      await ring.stop();
      vi.useRealTimers();
      await ring.clear();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

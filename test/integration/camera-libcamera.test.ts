/**
 * The libcamera source's pipe: a fake rpicam-vid (test/fixtures/camera/fake-rpicam-vid.sh, an H.264
 * elementary stream made by ffmpeg) piped into the pre-roll ffmpeg, which copies it into segments.
 * The two are supervised as one: when either dies, both are restarted, and stop ends both.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Capture,
  FfmpegTools,
  LibcameraSource,
  locateFfmpeg,
  PreRollRing,
  rpicamVidArgs,
  type FfmpegPaths,
  type Segment,
} from '../../agent/capture/index.js';
import { systemClock } from '../../agent/clock.js';
import { parseConfig } from '../../agent/config.js';
import { silentLogger } from '../../agent/log.js';
import type { ClipRecord } from '../../agent/store/index.js';
import { FolderSink } from '../fixtures/camera/clip-sink.js';
import { sleep, waitFor } from '../helpers/wait.js';

const FAKE = new URL('../fixtures/camera/fake-rpicam-vid.sh', import.meta.url).pathname;
const CAMERA = { width: 320, height: 240, fps: 15, segmentSeconds: 1, extraArgs: ['--hflip'] };


function probe(file: string, entries: string): Record<string, unknown> {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', entries, '-of', 'json', file], { encoding: 'utf8' });
  const json = JSON.parse(out) as { streams?: Record<string, unknown>[]; format?: Record<string, unknown> };
  return { ...json.format, ...json.streams?.[0] };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

let dir: string;
let paths: FfmpegPaths;
let argsFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'camera-libcamera-'));
  paths = await locateFfmpeg();
  argsFile = join(dir, 'rpicam-args.txt');
  process.env.FAKE_RPICAM_ARGS = argsFile;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the Pi camera through rpicam-vid', () => {
  it('copies the piped H.264 into segments, and restarts both processes when either dies', async () => {
    const segments: Segment[] = [];
    const ring = new PreRollRing({
      source: new LibcameraSource({ ...CAMERA, command: FAKE }),
      tools: new FfmpegTools(paths, silentLogger),
      dir: join(dir, 'ring'),
      segmentSeconds: 1,
      preRollSeconds: 2,
      stallSeconds: 4,
      connectTimeoutSeconds: 2,
      clock: systemClock,
      log: silentLogger,
      stopLadder: { afterQuitMs: 1_000, afterSigintMs: 1_000, afterSigtermMs: 1_000 },
    });
    ring.on('segment', (s) => segments.push(s));
    await ring.start();
    try {
      await waitFor('two segments', () => segments.length >= 2);
      expect(readFileSync(argsFile, 'utf8').trim().split('\n')).toEqual(rpicamVidArgs(CAMERA));
      expect(probe(segments[1]!.path, 'stream=codec_name,width,height')).toEqual({ codec_name: 'h264', width: 320, height: 240 });

      // rpicam-vid dies (camera unplugged, say): ffmpeg sees its input end, and both come back.
      const first = { ffmpeg: ring.pid()!, feeder: ring.feederPid()! };
      process.kill(first.feeder, 'SIGKILL');
      const second = await waitFor('a new pair', () => {
        const [ffmpeg, feeder] = [ring.pid(), ring.feederPid()];
        return ffmpeg !== null && feeder !== null && ffmpeg !== first.ffmpeg && feeder !== first.feeder && { ffmpeg, feeder };
      });
      expect(alive(first.ffmpeg)).toBe(false);
      let seen = segments.length;
      await waitFor('video again', () => segments.length > seen + 1 && ring.health().ok);

      // ffmpeg dies: its rpicam-vid is ended too (it would hold the camera), and both come back.
      process.kill(second.ffmpeg, 'SIGKILL');
      await waitFor('a third pair', () => ring.pid() && ring.feederPid() && ring.pid() !== second.ffmpeg);
      expect(alive(second.feeder)).toBe(false);
      seen = segments.length;
      await waitFor('video again', () => segments.length > seen + 1);
      expect(ring.health().restarts).toBe(2);

      const last = { ffmpeg: ring.pid()!, feeder: ring.feederPid()! };
      await ring.stop();
      expect(alive(last.ffmpeg)).toBe(false);
      expect(alive(last.feeder)).toBe(false);
    } finally {
      await ring.stop();
      await ring.clear();
    }
  });

  it('records a clip with camera.source libcamera, finding rpicam-vid on PATH', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync(FAKE, join(bin, 'rpicam-vid'));
    process.env.PATH = `${bin}${delimiter}${process.env.PATH ?? ''}`;
    const config = parseConfig({
      runtime: { dir: join(dir, 'run') },
      camera: { source: 'libcamera', libcamera: { width: 320, height: 240, fps: 15 } },
      record: { preRollSeconds: 2, postRollSeconds: 2, maxClipSeconds: 10 },
    });
    const clips: ClipRecord[] = [];
    const capture = new Capture({ config, ffmpeg: paths, sink: new FolderSink(mkdtempSync(join(dir, 'clips-'))), clock: systemClock, log: silentLogger });
    capture.on('clip-ready', ({ clip }) => clips.push(clip));
    await capture.start();
    try {
      await waitFor('video', () => capture.health().ok);
      capture.trigger({ kind: 'ring', source: 'manual', at: Date.now() });
      const clip = await waitFor('a clip', () => clips[0]);
      expect(probe(clip.path, 'stream=codec_name,width,height')).toEqual({ codec_name: 'h264', width: 320, height: 240 });
      expect(Number(probe(clip.path, 'format=duration').duration)).toBeGreaterThan(2.5);
    } finally {
      await capture.stop();
    }
  });
});

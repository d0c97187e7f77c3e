/**
 * The motion detector on video made by ffmpeg: a textured static scene with heavy sensor noise, H.264
 * compressed, and in it a box crossing the frame, a dusk light ramp, sudden light and gain steps, an
 * infrared-filter switch, and a box moving only inside an excluded zone. Frames reach the detector
 * the way they do in the agent: decoded by ffmpeg through the motion branch's filter into raw grey.
 * Each light-change fixture is first shown to really change the picture beyond the pixel threshold.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FrameSplitter,
  LIGHT_CHANGE_PERCENT,
  MOTION_DECODE_ARGS,
  MotionDetector,
  motionOutputArgs,
  type FrameVerdict,
  type MotionZone,
} from '../../agent/capture/index.js';
import { parseConfig } from '../../agent/config.js';

const run = promisify(execFile);
const SOURCE_FPS = 15;
/** Uniform sensor noise of ±40 grey levels per pixel and frame, kept by a high-quality encode. */
const NOISE = 40;
const CRF = '20';
const SIZE = '640x360';
const motion = parseConfig({ camera: { motion: { enabled: true } } }).camera.motion;
/** A box 80x140 (about 5 % of the frame: a person a few metres away) at 200 px/s, entering at ENTER_S. */
const ENTER_S = 3;
const BOX = 'color=c=0xd0d0d0:s=80x140';
/** The top right of the frame (a street behind the garden, say), where the street video's box moves. */
const STREET_ZONE: MotionZone = { kind: 'exclude', points: [[0.5, 0], [1, 0], [1, 0.45], [0.5, 0.45]] };

let dir: string;

interface Scene {
  seconds: number;
  /** overlay position of the moving box, e.g. `x='t*200':y=120`. */
  box?: string;
  /** A filter changing the light (eq with time expressions). */
  light?: string;
  /** From this time on, the infrared texture replaces the daylight one. */
  infraredFrom?: number;
}

/** ffmpeg arguments for a scene: a static texture (made once), then per-frame sensor noise on everything. */
function scene(o: Scene): string[] {
  const image = (name: string): string[] => ['-loop', '1', '-framerate', String(SOURCE_FPS), '-i', join(dir, name)];
  const inputs = image('daylight.png');
  let graph = `[0:v]format=gray,trim=duration=${o.seconds}[day]`;
  let last = 'day';
  if (o.infraredFrom !== undefined) {
    inputs.push(...image('infrared.png'));
    graph += `;[1:v]format=gray[ir];[day][ir]overlay=enable='gte(t,${o.infraredFrom})':shortest=1[switched]`;
    last = 'switched';
  }
  if (o.box) {
    graph += `;${BOX}:r=${SOURCE_FPS}[box];[${last}][box]overlay=${o.box}:shortest=1[boxed]`;
    last = 'boxed';
  }
  graph += `;[${last}]${o.light ? `${o.light},` : ''}noise=alls=${NOISE}:allf=t+u,format=yuv420p`;
  return [...inputs, '-filter_complex', graph];
}

async function makeVideo(name: string, args: string[]): Promise<string> {
  const file = join(dir, `${name}.mp4`);
  await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args, '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', CRF, file]);
  return file;
}

/** Decodes a video through the agent's motion branch and runs the detector over it. */
async function detect(file: string, zones: MotionZone[] = []): Promise<{ verdicts: FrameVerdict[]; starts: number[]; frames: Uint8Array[] }> {
  const { stdout } = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', file, ...motionOutputArgs(motion)], {
    encoding: 'buffer',
    maxBuffer: 1 << 30,
  });
  const detector = new MotionDetector({ ...motion, zones });
  const verdicts: FrameVerdict[] = [];
  const frames: Uint8Array[] = [];
  new FrameSplitter(detector.frameBytes, (frame) => {
    frames.push(frame);
    verdicts.push(detector.push(frame));
  }).write(stdout);
  const starts = verdicts.flatMap((v, i) => (v.motionStarted ? [i / motion.fps] : []));
  return { verdicts, starts, frames };
}

const videos: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'motion-'));
  const texture = (name: string, lum: string): Promise<unknown> =>
    run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `color=c=gray:s=${SIZE}:d=1,geq=lum='${lum}':cb=128:cr=128`, '-frames:v', '1', join(dir, name)]);
  await Promise.all([
    texture('daylight.png', '128+50*sin(X/9)*cos(Y/13)+30*sin((X+Y)/31)'),
    // Under infrared, materials reflect differently: the same range of grey, arranged otherwise.
    texture('infrared.png', '128+60*cos(X/11+1)*sin(Y/7)+20*cos((X-Y)/17)'),
  ]);
  const made = await Promise.all([
    makeVideo('crossing', scene({ seconds: 8, box: `x='-80+(t-${ENTER_S})*200':y=120` })),
    makeVideo('noise', scene({ seconds: 60 })),
    // Dusk in 30 s: darker and flatter, so dark and bright areas change by different amounts.
    makeVideo('ramp', scene({ seconds: 30, light: "eq=brightness='0.15-0.4*t/30':contrast='1.5-0.8*t/30':eval=frame" })),
    // A bright lamp switched on (much of the picture clips) and, once the background took it in,
    // off again (the texture of the clipped areas comes back); then the camera's gain jumping.
    makeVideo('steps', scene({ seconds: 40, light: "eq=brightness='if(between(t,3,33),0.45,0)':contrast='if(gte(t,36),1.6,1)':eval=frame" })),
    makeVideo('street', scene({ seconds: 10, box: `x='400+mod(t*150,160)':y=10` })),
    makeVideo('infrared', scene({ seconds: 10, infraredFrom: 5 })),
    // A porch lamp switching on for someone walking in.
    makeVideo('porch', scene({ seconds: 8, box: `x='-80+(t-${ENTER_S})*200':y=120`, light: `eq=brightness='if(gte(t,${ENTER_S + 0.2}),0.25,0)':eval=frame` })),
  ]);
  for (const [i, name] of ['crossing', 'noise', 'ramp', 'steps', 'street', 'infrared', 'porch'].entries()) videos[name] = made[i]!;
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The share of pixels (%) whose grey level differs by more than the detector's threshold between the
 * frames at `from` and `to` seconds: proof that a light-change fixture really changes the picture.
 */
function changedBetween(frames: Uint8Array[], from: number, to: number): number {
  const a = frames[Math.round(from * motion.fps)]!;
  const b = frames[Math.round(to * motion.fps)]!;
  let changed = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > motion.pixelThreshold) changed++;
  return (changed / a.length) * 100;
}

describe('video motion detection', () => {
  it('detects a box crossing the frame within 1 s of it entering, once', async () => {
    const { starts } = await detect(videos.crossing!);
    expect(starts).toHaveLength(1);
    expect(starts[0]!).toBeGreaterThanOrEqual(ENTER_S);
    expect(starts[0]! - ENTER_S).toBeLessThanOrEqual(1);
  });

  it('detects someone walking in as a lamp switches on for them', async () => {
    const { starts, frames } = await detect(videos.porch!);
    expect(changedBetween(frames, ENTER_S - 0.4, ENTER_S + 0.6)).toBeGreaterThan(LIGHT_CHANGE_PERCENT);
    expect(starts.length).toBeGreaterThanOrEqual(1);
    expect(starts[0]! - ENTER_S).toBeLessThanOrEqual(1);
  });

  it('ignores a minute of sensor noise', async () => {
    const { starts, verdicts } = await detect(videos.noise!);
    expect(verdicts.length).toBeGreaterThanOrEqual(60 * motion.fps - 1);
    expect(starts).toEqual([]);
  });

  it('ignores a slow light ramp', async () => {
    const { starts, frames } = await detect(videos.ramp!);
    expect(changedBetween(frames, 1, 29)).toBeGreaterThan(50);
    expect(starts).toEqual([]);
  });

  it('ignores sudden whole-frame light steps: a lamp on and off, an exposure gain jump', async () => {
    const { starts, frames } = await detect(videos.steps!);
    expect(changedBetween(frames, 2, 4)).toBeGreaterThan(50);
    expect(changedBetween(frames, 32, 34)).toBeGreaterThan(50);
    expect(changedBetween(frames, 35, 37)).toBeGreaterThan(10);
    expect(starts).toEqual([]);
  });

  it('ignores the whole picture changing at once, as when the infrared filter switches at dusk', async () => {
    const { starts, frames, verdicts } = await detect(videos.infrared!);
    expect(changedBetween(frames, 4, 6)).toBeGreaterThan(LIGHT_CHANGE_PERCENT);
    expect(verdicts.some((v) => v.state === 'light-change')).toBe(true);
    expect(starts).toEqual([]);
  });

  it('ignores motion inside an excluded zone, and sees the same motion without the zone', async () => {
    const excluded = await detect(videos.street!, [STREET_ZONE]);
    const open = await detect(videos.street!);
    expect(excluded.starts).toEqual([]);
    expect(open.starts.length).toBeGreaterThanOrEqual(1);
  });
});

describe('the frames on their way to node', () => {
  it('come a second of them per write, each a whole frame, so node wakes once a second for them', async () => {
    // Paced as a live camera: 4 s of the crossing at its own speed, decoded the way the sub-stream reader does.
    const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...MOTION_DECODE_ARGS, '-re', '-t', '4', '-i', videos.crossing!, ...motionOutputArgs(motion)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const bursts: number[] = [];
      let bytes = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        // A batch larger than one read arrives as two chunks back to back: one wake-up.
        const now = performance.now();
        if (bursts.length === 0 || now - bursts.at(-1)! > 100) bursts.push(now);
      });
      expect(await exited).toBe(0);
      const frameBytes = motion.width * motion.height;
      expect(bytes).toBe(4 * motion.fps * frameBytes);
      // Four batches (the 32 KiB blocks of before came 2.2 times a second: eight or nine in 4 s).
      expect(bursts.length).toBeLessThanOrEqual(5);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});

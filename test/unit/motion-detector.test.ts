/** The motion detector's logic on small synthetic frames: zones, streaks, episodes, light changes, framing, and how often VideoMotion reports. */
import { describe, expect, it } from 'vitest';
import {
  FrameSplitter,
  MotionDetector,
  rasteriseZones,
  VideoMotion,
  type MotionOptions,
} from '../../agent/capture/index.js';
import { createLogger, silentLogger } from '../../agent/log.js';

const W = 40;
const H = 30;
const OPTIONS: MotionOptions = {
  width: W,
  height: H,
  pixelThreshold: 25,
  minAreaPercent: 1,
  consecutiveFrames: 3,
  backgroundAlpha: 0.05,
  zones: [],
};

/** A textured scene (a diagonal gradient) with an optional bright block, light offset and gain around mid-grey. */
function frame(o: { block?: { x: number; y: number; w: number; h: number }; offset?: number; gain?: number } = {}): Uint8Array {
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let v = 60 + ((x + y) * 130) / (W + H);
      if (o.block && x >= o.block.x && x < o.block.x + o.block.w && y >= o.block.y && y < o.block.y + o.block.h) v = 250;
      v = 128 + (v - 128) * (o.gain ?? 1) + (o.offset ?? 0);
      out[y * W + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return out;
}

const person = { x: 10, y: 5, w: 6, h: 12 }; // 72 px: 6 % of the frame

describe('zones', () => {
  it('watches the whole frame without zones', () => {
    expect(rasteriseZones([], 4, 3).every((m) => m === 1)).toBe(true);
  });

  it('watches only inside include zones, minus exclude zones, by pixel centre', () => {
    const mask = rasteriseZones(
      [
        { kind: 'include', points: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]] },
        { kind: 'exclude', points: [[0, 0], [0.25, 0], [0.25, 0.5], [0, 0.5]] },
      ],
      4,
      2,
    );
    expect([...mask]).toEqual([0, 1, 0, 0, 1, 1, 0, 0]);
  });

  it('rasterises a triangle', () => {
    const mask = rasteriseZones([{ kind: 'include', points: [[0, 0], [1, 0], [0, 1]] }], 4, 4);
    const rows = [0, 1, 2, 3].map((y) => [...mask.slice(y * 4, y * 4 + 4)].join(''));
    expect(rows).toEqual(['1110', '1100', '1000', '0000']);
  });

  it('refuses zones that leave nothing to watch, and zones that are not polygons', () => {
    expect(() => new MotionDetector({ ...OPTIONS, zones: [{ kind: 'exclude', points: [[0, 0], [1, 0], [1, 1], [0, 1]] }] })).toThrow(
      /leave no pixel/,
    );
    expect(() => new MotionDetector({ ...OPTIONS, zones: [{ kind: 'include', points: [[0, 0], [1, 1]] }] })).toThrow(/at least 3 points/);
  });
});

describe('the motion detector', () => {
  it('learns the first frame, then starts an episode after the configured run of moving frames, once', () => {
    const d = new MotionDetector(OPTIONS);
    expect(d.push(frame()).state).toBe('learning');
    for (let i = 0; i < 5; i++) expect(d.push(frame()).state).toBe('still');
    const moving = [1, 2, 3, 4, 5].map((i) => d.push(frame({ block: { ...person, x: person.x + i } })));
    expect(moving.map((v) => v.state)).toEqual(['moving', 'moving', 'moving', 'moving', 'moving']);
    expect(moving.map((v) => v.motionStarted)).toEqual([false, false, true, false, false]);
    expect(moving[0]!.changedPercent).toBeGreaterThan(4);
  });

  it('ends an episode after as many still frames, and reports the next one', () => {
    const d = new MotionDetector({ ...OPTIONS, consecutiveFrames: 2 });
    for (let i = 0; i < 30; i++) d.push(frame());
    const starts: boolean[] = [];
    const run = (frames: Uint8Array[]): void => frames.forEach((f) => starts.push(d.push(f).motionStarted));
    run([1, 2, 3].map((i) => frame({ block: { ...person, x: i * 3 } })));
    run([frame(), frame(), frame(), frame()]);
    run([1, 2].map((i) => frame({ block: { ...person, x: 20 + i * 3 } })));
    expect(starts.filter(Boolean)).toHaveLength(2);
  });

  it('says an episode goes on from the frame it starts until the frame it ends', () => {
    const d = new MotionDetector({ ...OPTIONS, consecutiveFrames: 2 });
    for (let i = 0; i < 30; i++) d.push(frame());
    const moving = [1, 2, 3, 4].map((i) => d.push(frame({ block: { ...person, x: i * 3 } })).inEpisode);
    const still = [1, 2, 3].map(() => d.push(frame()).inEpisode);
    expect(moving).toEqual([false, true, true, true]);
    expect(still).toEqual([true, false, false]);
  });

  it('needs the changed area to reach minAreaPercent of the watched pixels', () => {
    const d = new MotionDetector({ ...OPTIONS, minAreaPercent: 10 });
    d.push(frame());
    const verdicts = [1, 2, 3, 4].map((i) => d.push(frame({ block: { ...person, x: i } })));
    expect(verdicts.every((v) => v.state === 'still')).toBe(true);
  });

  it('counts the area against the zone, not the frame', () => {
    // The same 6 % block is 24 % of a zone a quarter of the frame.
    const zoned = new MotionDetector({ ...OPTIONS, minAreaPercent: 20, zones: [{ kind: 'include', points: [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]] }] });
    zoned.push(frame());
    const verdict = zoned.push(frame({ block: { ...person, x: 5, y: 2, w: 6, h: 12 } }));
    expect(verdict.state).toBe('moving');
    expect(verdict.changedPercent).toBeGreaterThan(20);
  });

  it('takes out a brightness offset and a gain change before differencing', () => {
    const d = new MotionDetector(OPTIONS);
    d.push(frame());
    // Small enough not to change most of the frame, large enough to change much of it.
    for (const light of [{ offset: 20, gain: 1.3 }, { offset: -15, gain: 0.75 }]) {
      const verdict = d.push(frame(light));
      expect(verdict.state).toBe('still');
      expect(verdict.changedPercent).toBeLessThan(1);
    }
    const raw = frame({ offset: 20, gain: 1.3 }).filter((v, i) => Math.abs(v - frame()[i]!) > OPTIONS.pixelThreshold).length;
    expect(raw / (W * H)).toBeGreaterThan(0.1);
  });

  it('re-learns the scene after a whole-frame light step, and sees a person in the next frames', () => {
    const d = new MotionDetector({ ...OPTIONS, consecutiveFrames: 2 });
    for (let i = 0; i < 10; i++) d.push(frame());
    expect(d.push(frame({ offset: 40, block: person })).state).toBe('light-change');
    const next = [1, 2].map((i) => d.push(frame({ offset: 40, block: { ...person, x: person.x + 3 * i } })));
    expect(next.map((v) => v.motionStarted)).toEqual([false, true]);
  });

  it('re-learns the scene when most of it changed at once, and reports no motion', () => {
    const d = new MotionDetector({ ...OPTIONS, consecutiveFrames: 1 });
    d.push(frame());
    // Another arrangement of the same grey levels, as under infrared light.
    const other = frame().map((_, i) => 40 + ((i * 7919) % 180));
    const verdict = d.push(other);
    expect(verdict).toMatchObject({ state: 'light-change', motionStarted: false });
    expect(d.push(other).state).toBe('still');
  });

  it('forgets the background on reset', () => {
    const d = new MotionDetector(OPTIONS);
    d.push(frame());
    d.reset();
    expect(d.push(frame({ block: person })).state).toBe('learning');
    expect(d.push(frame({ block: person })).state).toBe('still');
  });

  it('refuses a frame of the wrong size', () => {
    const d = new MotionDetector(OPTIONS);
    expect(() => d.push(new Uint8Array(10))).toThrow(/10 bytes; 40x30 grey needs 1200/);
  });
});

describe('video motion reports', () => {
  it('dates each frame of a batch ffmpeg wrote at once back from the newest, also when node reads the batch in two chunks', () => {
    const FPS = 5;
    let now = 1_000_000;
    const motion = new VideoMotion({ settings: { ...OPTIONS, consecutiveFrames: 1, fps: FPS }, clock: { now: () => now }, log: silentLogger });
    const reports: { at: number; continuing: boolean }[] = [];
    motion.on('motion', (r) => reports.push(r));
    motion.start();
    const sink = motion.openRun();
    sink(Buffer.concat([frame(), frame(), frame(), frame(), frame()]));
    now += 10_000;
    // Someone appears in the second of five frames written together: it was made 600 ms before the
    // fifth. The read ends inside the third frame, and the rest comes as a second chunk.
    const batch = Buffer.concat([frame(), frame({ block: person }), frame({ block: person }), frame({ block: person }), frame({ block: person })]);
    const cut = 2.5 * W * H;
    sink(batch.subarray(0, cut));
    expect(reports).toEqual([{ at: now - (3 * 1000) / FPS, continuing: false }]);
    sink(batch.subarray(cut));
    expect(motion.lastFrameAt()).toBe(now);
  });

  it("skips flat frames: a stopping ffmpeg's black fillers are not judged as the scene going dark", () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', sink: { write: (line) => lines.push(line) } });
    const motion = new VideoMotion({ settings: { ...OPTIONS, fps: 5 }, clock: { now: () => 1_000_000 }, log });
    motion.start();
    const sink = motion.openRun();
    for (let i = 0; i < 10; i++) sink(Buffer.from(frame()));
    // The last batch of a run that stopped one frame into its second: four black fillers.
    const black = new Uint8Array(W * H);
    sink(Buffer.concat([frame(), black, black, black, black]));
    expect(lines.filter((l) => l.includes('light change'))).toEqual([]);
    // One pixel off black is a picture, and judged: the whole scene went dark.
    sink(Buffer.from(black.map((_, i) => (i === 0 ? 1 : 0))));
    expect(lines.filter((l) => l.includes('light change'))).toHaveLength(1);
  });

  it('reports an episode when it starts, then about once a second while the frames keep moving, and nothing once it ended', () => {
    const FPS = 15;
    let now = 1_000_000;
    const motion = new VideoMotion({ settings: { ...OPTIONS, fps: FPS }, clock: { now: () => now }, log: silentLogger });
    const reports: { at: number; continuing: boolean }[] = [];
    motion.on('motion', (r) => reports.push(r));
    motion.start();
    const sink = motion.openRun();
    const show = (f: Uint8Array): void => {
      now += 1000 / FPS;
      sink(Buffer.from(f));
    };
    for (let i = 0; i < 10; i++) show(frame());
    const startedAt = now;
    // Someone pacing in front of the door for 5 s, then gone for 5 s.
    for (let i = 0; i < 5 * FPS; i++) show(frame({ block: { ...person, x: 2 + (i % 30) } }));
    const stoppedAt = now;
    for (let i = 0; i < 5 * FPS; i++) show(frame());

    expect(reports[0]!.continuing).toBe(false);
    expect(reports[0]!.at - startedAt).toBeLessThanOrEqual((OPTIONS.consecutiveFrames * 1000) / FPS + 1);
    const continuing = reports.slice(1);
    expect(continuing.every((r) => r.continuing)).toBe(true);
    expect(continuing.length).toBeGreaterThanOrEqual(4);
    continuing.forEach((r, i) => expect(r.at - reports[i]!.at).toBeGreaterThanOrEqual(1000));
    expect(stoppedAt - reports.at(-1)!.at).toBeLessThan(1000);
    // Leaving shows as motion for a few frames (the background had begun to take in the last place); then nothing.
    expect(reports.filter((r) => r.at > stoppedAt + 1000)).toEqual([]);
  });
});

describe('the frame splitter', () => {
  it('cuts a byte stream in chunks of any size into whole frames, keeping the remainder', () => {
    const frames: number[][] = [];
    const splitter = new FrameSplitter(4, (f) => frames.push([...f]));
    splitter.write(Buffer.from([1, 2, 3]));
    splitter.write(Buffer.from([4, 5, 6, 7, 8, 9, 10, 11]));
    splitter.write(Buffer.from([12, 13]));
    expect(frames).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10, 11, 12],
    ]);
  });

  it('hands on a frame within one chunk without copying it, and assembles one split across chunks', () => {
    const seen: { first: number; view: boolean }[] = [];
    const splitter = new FrameSplitter(4, (f) => seen.push({ first: f[0]!, view: f.buffer === chunk.buffer }));
    // Each chunk over a memory of its own (not node's shared pool), so only a view of it shares its buffer.
    const own = (bytes: number[]): Buffer => Buffer.from(new Uint8Array(bytes).buffer);
    let chunk = own([1, 2]);
    splitter.write(chunk);
    chunk = own([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    splitter.write(chunk);
    expect(seen).toEqual([
      { first: 1, view: false },
      { first: 5, view: true },
      { first: 9, view: true },
    ]);
  });
});

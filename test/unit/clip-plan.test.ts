import { describe, expect, it } from 'vitest';
import { ClipPlan, coveringSegments, missingMs, segmentShowing } from '../../agent/capture/clip-plan.js';
import type { Trigger } from '../../agent/events.js';

const PRE = 5_000;
const POST = 10_000;
const MAX = 30_000;

function plan(maxClipMs = MAX): ClipPlan {
  let n = 0;
  return new ClipPlan({ preRollMs: PRE, postRollMs: POST, maxClipMs }, () => `clip${++n}`);
}

const ring = (at: number): Trigger => ({ kind: 'ring', source: 'button', at });

describe('ClipPlan', () => {
  it('opens [at − preRoll, at + postRoll] for a first trigger', () => {
    const placed = plan().place(ring(100_000));
    expect(placed.opened).toBe(true);
    expect(placed.extended).toEqual([]);
    expect(placed.clip).toMatchObject({ id: 'clip1', start: 95_000, end: 110_000 });
  });

  it('extends the open clip for a trigger inside it', () => {
    const p = plan();
    p.place(ring(100_000));
    const placed = p.place(ring(103_000));
    expect(placed.opened).toBe(false);
    expect(placed.clip).toMatchObject({ id: 'clip1', start: 95_000, end: 113_000 });
    expect(placed.extended.map((c) => c.id)).toEqual(['clip1']);
  });

  it('joins a trigger whose pre-roll reaches the open clip, rather than making two clips that meet', () => {
    const p = plan();
    p.place(ring(100_000));
    const placed = p.place(ring(114_000));
    expect(placed.clip).toMatchObject({ id: 'clip1', end: 124_000 });
  });

  it('does not move the end back for an earlier trigger', () => {
    const p = plan();
    p.place(ring(100_000));
    p.place(ring(104_000));
    const placed = p.place(ring(101_000));
    expect(placed.clip.end).toBe(114_000);
    expect(placed.extended).toEqual([]);
  });

  it('caps a clip at maxClip and opens the next where it ended', () => {
    const p = plan();
    p.place(ring(100_000)); // 95 s … 110 s
    p.place(ring(110_000)); // … 120 s
    const placed = p.place(ring(118_000)); // would need 128 s > 95 + 30 = 125 s
    expect(placed.opened).toBe(true);
    expect(placed.extended).toMatchObject([{ id: 'clip1', start: 95_000, end: 125_000 }]);
    expect(placed.clip).toMatchObject({ id: 'clip2', start: 125_000, end: 128_000 });
    expect(p.place(ring(120_000)).clip).toMatchObject({ id: 'clip2', end: 130_000 });
  });

  it('opens a new clip after the open one was closed, without overlapping it', () => {
    const p = plan();
    p.place(ring(100_000));
    p.close('clip1');
    const placed = p.place(ring(112_000));
    expect(placed.clip).toMatchObject({ id: 'clip2', start: 110_000, end: 122_000 });
    expect(p.place(ring(200_000)).clip).toMatchObject({ id: 'clip3', start: 195_000 });
  });

  it('never makes a clip longer than maxClip', () => {
    const placed = plan(8_000).place(ring(100_000));
    expect(placed.clip.end - placed.clip.start).toBe(8_000);
  });
});

describe('segment selection', () => {
  const segments = [
    { path: 'a', start: 0, end: 1_000 },
    { path: 'b', start: 1_000, end: 2_000 },
    { path: 'd', start: 5_000, end: 6_000 },
  ];

  it('takes every segment holding part of the window', () => {
    expect(coveringSegments(segments, 500, 1_500).map((s) => s.path)).toEqual(['a', 'b']);
    expect(coveringSegments(segments, 1_000, 2_000).map((s) => s.path)).toEqual(['b']);
    expect(coveringSegments(segments, 2_000, 5_000)).toEqual([]);
  });

  it('finds the segment showing a moment, or the next one after a gap', () => {
    expect(segmentShowing(segments, 1_200)?.path).toBe('b');
    expect(segmentShowing(segments, 3_000)?.path).toBe('d');
    expect(segmentShowing(segments, 6_000)).toBeUndefined();
  });

  it('measures what the camera missed', () => {
    expect(missingMs(coveringSegments(segments, 0, 6_000), 0, 6_000)).toBe(3_000);
    expect(missingMs(coveringSegments(segments, 500, 1_500), 500, 1_500)).toBe(0);
  });
});

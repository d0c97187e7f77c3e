import { describe, expect, it } from 'vitest';
import { parseSegmentList, segmentNumber } from '../../agent/capture/segment-list.js';
import { StreamClock } from '../../agent/capture/stream-clock.js';

describe('parseSegmentList', () => {
  it('reads the closed segments in order', () => {
    const text = 's000000011.ts,4.000000,4.866667\ns000000009.ts,2.000000,3.000000\n';
    expect(parseSegmentList(text)).toEqual({
      entries: [
        { name: 's000000009.ts', number: 9, start: 2, end: 3 },
        { name: 's000000011.ts', number: 11, start: 4, end: 4.866667 },
      ],
      skipped: 0,
    });
  });

  it('ignores a line ffmpeg is still writing', () => {
    expect(parseSegmentList('s000000009.ts,2.000000,3.000000\ns000000010.ts,3.00').entries.map((e) => e.number)).toEqual([9]);
    expect(parseSegmentList('s0000000').entries).toEqual([]);
  });

  it('counts complete lines that are not our segments', () => {
    expect(parseSegmentList('other.ts,1,2\ns000000001.ts,x,2\ns000000002.ts,3,2\n')).toEqual({ entries: [], skipped: 3 });
  });

  it('knows our segment names', () => {
    expect(segmentNumber('s000000042.ts')).toBe(42);
    expect(segmentNumber('s1234567890.ts')).toBe(1_234_567_890);
    expect(segmentNumber('segments.csv')).toBeNull();
  });
});

describe('StreamClock', () => {
  it('anchors stream time on the first segment seen closing', () => {
    const clock = new StreamClock();
    expect(clock.observe(1.0, 50_000)).toBe('anchored');
    expect(clock.toWall(0)).toBe(49_000);
    expect(clock.toWall(1.5)).toBe(50_500);
  });

  it('keeps the anchor through small jitter and re-anchors after a jump', () => {
    const clock = new StreamClock(2_000);
    clock.observe(1, 50_000);
    expect(clock.observe(2, 51_300)).toBe('steady');
    expect(clock.toWall(2)).toBe(51_000);
    // The system clock was stepped forward by NTP.
    expect(clock.observe(3, 3_652_000)).toBe('re-anchored');
    expect(clock.toWall(3)).toBe(3_652_000);
  });

  it('refuses to convert before it is anchored', () => {
    expect(() => new StreamClock().toWall(0)).toThrow(/before the first observe/);
  });
});

/**
 * The MP4 head's sample table points at the bytes that follow it: 32-bit chunk offsets while the
 * file stays under 4 GiB, 64-bit ones (co64, and a 64-bit mdat size) beyond, as an hour of a high
 * bit-rate camera can be. Decoding with ffmpeg is tested in clip-remux.test.ts; files over 4 GiB
 * are not, so their layout is checked here, box by box.
 */
import { describe, expect, it } from 'vitest';
import { mp4Head, type Mp4Sample } from '../../agent/capture/mp4-file.js';

const AVCC = Uint8Array.from([1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]);

function track(sizes: number[]): Parameters<typeof mp4Head>[0] {
  const samples: Mp4Sample[] = sizes.map((size, i) => ({ size, duration: 6000, ctsOffset: 0, sync: i === 0 }));
  return { width: 1920, height: 1080, avcC: AVCC, timescale: 90_000, samples };
}

/** The box of `type` anywhere under `from`..`to`, by walking sizes (containers are entered). */
function findBox(view: DataView, type: string, from = 0, to = view.byteLength): { at: number; size: number } | null {
  const containers = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl']);
  for (let at = from; at + 8 <= to; ) {
    const size = view.getUint32(at);
    const name = String.fromCharCode(...new Uint8Array(view.buffer, view.byteOffset + at + 4, 4));
    if (name === type) return { at, size };
    if (containers.has(name)) {
      const inner = findBox(view, type, at + 8, at + size);
      if (inner) return inner;
    }
    if (size < 8) return null;
    at += size;
  }
  return null;
}

function offsets(view: DataView, box: { at: number }, wide: boolean): number[] {
  const count = view.getUint32(box.at + 12);
  return Array.from({ length: count }, (_, i) =>
    wide ? view.getUint32(box.at + 16 + 8 * i) * 2 ** 32 + view.getUint32(box.at + 20 + 8 * i) : view.getUint32(box.at + 16 + 4 * i),
  );
}

describe('the MP4 head', () => {
  it('points 32-bit offsets at the samples right after it, below 4 GiB', () => {
    const head = mp4Head(track([1000, 200, 300]));
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const moov = findBox(view, 'moov')!;
    expect(findBox(view, 'co64')).toBeNull();
    expect(offsets(view, findBox(view, 'stco')!, false)).toEqual([head.length, head.length + 1000, head.length + 1200]);
    // mdat's 8-byte header ends the head, sized for its samples.
    expect(moov.at + moov.size).toBe(head.length - 8);
    expect(view.getUint32(head.length - 8)).toBe(8 + 1500);
    expect(Buffer.from(head.subarray(head.length - 4)).toString('latin1')).toBe('mdat');
  });

  it('switches to co64 and a 64-bit mdat size past 4 GiB', () => {
    const twoGiB = 2 ** 31;
    const head = mp4Head(track([twoGiB, twoGiB, twoGiB]));
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    expect(findBox(view, 'stco')).toBeNull();
    expect(offsets(view, findBox(view, 'co64')!, true)).toEqual([head.length, head.length + twoGiB, head.length + 2 * twoGiB]);
    const moov = findBox(view, 'moov')!;
    expect(moov.at + moov.size).toBe(head.length - 16);
    expect(view.getUint32(head.length - 16)).toBe(1); // the size is in the 64-bit field that follows the type
    expect(view.getUint32(head.length - 8) * 2 ** 32 + view.getUint32(head.length - 4)).toBe(3 * twoGiB + 16);
  });

  it('keeps one entry per run of equal durations and lists the keyframes', () => {
    const t = track([10, 10, 10, 10]);
    t.samples[3]!.duration = 3000;
    t.samples[2]!.sync = true;
    const head = mp4Head(t);
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const stts = findBox(view, 'stts')!;
    expect([view.getUint32(stts.at + 12), view.getUint32(stts.at + 16), view.getUint32(stts.at + 20), view.getUint32(stts.at + 24), view.getUint32(stts.at + 28)])
      .toEqual([2, 3, 6000, 1, 3000]);
    const stss = findBox(view, 'stss')!;
    expect(offsets(view, stss, false)).toEqual([1, 3]);
  });
});

/**
 * Joins the pre-roll ring's MPEG-TS segments into one faststart MP4 inside node: no ffmpeg process,
 * whose start alone (linking some 200 shared libraries) costs more CPU than the remux of a minute of
 * video. Two passes over the segments: the first learns every sample's size, time and kind (for the
 * index at the front of the file), the second writes the samples; memory stays at one segment.
 * Video that is not progressive H.264 opening on an IDR picture, or whose parameter sets change in
 * the clip, is NotRemuxable and goes to ffmpeg instead.
 */
import { open } from 'node:fs/promises';
import { avcDecoderConfiguration, NAL_AUD, NAL_IDR, NAL_PPS, NAL_SPS, nalType, nalUnits, parameterSetId, parseSps } from './h264.js';
import { mp4Head, type Mp4Sample } from './mp4-file.js';
import { AccessUnitReader, NotRemuxable, type AccessUnit } from './mpegts.js';

const TIMESCALE = 90_000;
const WRAP = 2 ** 33;
/** A decode-time step beyond this (or backwards) is a break in the stream, such as an ffmpeg restart. */
const MAX_STEP = 10 * TIMESCALE;
/** Used for the last sample, or for a step across a break, when no earlier step is known (1/15 s). */
const DEFAULT_STEP = 6_000;
/** The write buffer's starting size: about a segment of a 1080p stream. */
const WRITE_BLOCK = 1 << 20;

export interface RemuxResult {
  frames: number;
  seconds: number;
}

/** The NAL units an MP4 sample keeps: access unit delimiters only mark boundaries, which MP4 records itself. */
function sampleNals(unit: AccessUnit): Uint8Array[] {
  return nalUnits(unit.data).filter((nal) => nalType(nal) !== NAL_AUD);
}

/** Keeps each parameter set by id; a different one under a known id means the stream changed. */
function remember(sets: Map<number, Uint8Array>, nal: Uint8Array, id: number): void {
  const known = sets.get(id);
  if (!known) sets.set(id, new Uint8Array(nal)); // a copy: `nal` lies in a buffer the reader reuses
  else if (Buffer.compare(known, nal) !== 0) throw new NotRemuxable('the parameter sets change within the clip');
}

function checkDeadline(deadline: number): void {
  if (Date.now() >= deadline) throw new Error('the join took longer than its time limit');
}

/**
 * Joins clips, keeping its read and write buffers (about a segment each) from one clip to the next:
 * on a busy door a join runs every few seconds, and fresh megabyte buffers each time only grew the
 * heap. A second join while one runs gets buffers of its own.
 */
export class SegmentRemuxer {
  private reader: AccessUnitReader | null = null;
  private block = Buffer.alloc(0);
  private busy = false;

  /**
   * Writes `files` (closed segments, in order) as one MP4 at `out`. Throws NotRemuxable when ffmpeg
   * should do it instead, and a plain Error when it cannot be done (unreadable input, a full disk, or
   * past `deadline`, an epoch time in ms).
   */
  async remux(files: string[], out: string, deadline = Number.POSITIVE_INFINITY): Promise<RemuxResult> {
    if (this.busy) return new SegmentRemuxer().remux(files, out, deadline);
    this.busy = true;
    try {
      return await this.write(files, out, deadline);
    } finally {
      this.busy = false;
    }
  }

  private async write(files: string[], out: string, deadline: number): Promise<RemuxResult> {
    const reader = (this.reader ??= new AccessUnitReader());
    const sps = new Map<number, Uint8Array>();
    const pps = new Map<number, Uint8Array>();
    const samples: (Mp4Sample & { dts: number })[] = [];
    let unwrap = 0;
    let lastRawDts: number | null = null;
    for (const file of files) {
      await reader.readFile(file, (unit) => {
        if (lastRawDts !== null && unit.dts < lastRawDts && lastRawDts - unit.dts > WRAP / 2) unwrap += WRAP;
        lastRawDts = unit.dts;
        let size = 0;
        let idr = false;
        for (const nal of sampleNals(unit)) {
          const type = nalType(nal);
          if (type === NAL_SPS) remember(sps, nal, parameterSetId(nal));
          else if (type === NAL_PPS) remember(pps, nal, parameterSetId(nal));
          else if (type === NAL_IDR) idr = true;
          size += 4 + nal.length;
        }
        if (size === 0) return;
        const dts = unit.dts + unwrap;
        const pts = unit.pts + unwrap + (unit.pts < unit.dts - WRAP / 2 ? WRAP : 0);
        samples.push({ size, duration: 0, ctsOffset: Math.max(0, pts - dts), sync: idr, dts });
      });
      checkDeadline(deadline);
    }
    if (!samples.length) throw new NotRemuxable('the segments hold no video');
    if (!samples[0]!.sync) throw new NotRemuxable('the clip does not open on an IDR picture');
    if (!sps.size || !pps.size) throw new NotRemuxable('the stream carries no parameter sets');
    const { width, height } = parseSps(sps.values().next().value!);
    let step = DEFAULT_STEP;
    for (let i = 0; i < samples.length; i++) {
      const next = samples[i + 1];
      const gap = next ? next.dts - samples[i]!.dts : step;
      if (gap > 0 && gap <= MAX_STEP) step = gap;
      samples[i]!.duration = step;
    }
    const head = mp4Head({ width, height, avcC: avcDecoderConfiguration([...sps.values()], [...pps.values()]), timescale: TIMESCALE, samples });

    const handle = await open(out, 'w');
    try {
      // The write block holds what one segment adds (the head first): written once per segment.
      this.room(0, head.length).set(head);
      let used = head.length;
      let index = 0;
      for (const file of files) {
        await reader.readFile(file, (unit) => {
          const nals = sampleNals(unit);
          if (!nals.length) return;
          const size = nals.reduce((n, nal) => n + 4 + nal.length, 0);
          if (size !== samples[index++]?.size) throw new Error(`segment ${file} changed while it was being joined`);
          const block = this.room(used, size);
          for (const nal of nals) {
            block.writeUInt32BE(nal.length, used);
            block.set(nal, used + 4);
            used += 4 + nal.length;
          }
        });
        // A short write (a disk filling up) is continued; the next write then fails with ENOSPC.
        for (let done = 0; done < used; ) done += (await handle.write(this.block, done, used - done)).bytesWritten;
        used = 0;
        checkDeadline(deadline);
      }
      if (index !== samples.length) throw new Error('the segments changed while they were being joined');
    } finally {
      await handle.close();
    }
    return { frames: samples.length, seconds: samples.reduce((n, s) => n + s.duration, 0) / TIMESCALE };
  }

  /** The write block, with room for `more` bytes after the `used` it holds: grown (keeping them) when short. */
  private room(used: number, more: number): Buffer {
    if (used + more > this.block.length) {
      const bigger = Buffer.allocUnsafe(Math.max(WRITE_BLOCK, 2 * (used + more)));
      this.block.copy(bigger, 0, 0, used);
      this.block = bigger;
    }
    return this.block;
  }
}

/**
 * The head of a progressive MP4 file (ISO/IEC 14496-12) holding one H.264 video track: `ftyp`, then
 * `moov` with the whole sample table, then the `mdat` header, so the index comes first ("faststart")
 * and the samples follow back to back, one per chunk, in decode order.
 */

export interface Mp4Sample {
  /** Bytes in mdat (4-byte NAL lengths included). */
  size: number;
  /** In track timescale units: until the next sample's decode time. */
  duration: number;
  /** Presentation minus decode time, in track timescale units (0 without B-frames). */
  ctsOffset: number;
  /** A random access point (IDR). */
  sync: boolean;
}

export interface Mp4Track {
  width: number;
  height: number;
  /** The avcC record (h264.ts avcDecoderConfiguration). */
  avcC: Uint8Array;
  /** Ticks per second of the sample durations (90 000 for MPEG-TS timestamps). */
  timescale: number;
  samples: Mp4Sample[];
}

const MOVIE_TIMESCALE = 1000;
const UINT32 = 0x1_0000_0000;
const MATRIX = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000];

/** A growing byte buffer with boxes: begin() writes a size placeholder, end() fills it in. */
class BoxWriter {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  private length = 0;
  private readonly open: number[] = [];

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    bigger.set(this.buf.subarray(0, this.length));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }

  u8(v: number): this {
    this.room(1);
    this.view.setUint8(this.length++, v);
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.view.setUint16(this.length, v);
    this.length += 2;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.view.setUint32(this.length, v);
    this.length += 4;
    return this;
  }

  u64(v: number): this {
    return this.u32(Math.floor(v / UINT32)).u32(v % UINT32);
  }

  bytes(b: Uint8Array | readonly number[]): this {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }

  fourcc(s: string): this {
    return this.bytes([...s].map((c) => c.charCodeAt(0)));
  }

  begin(type: string, fullBox?: { version: number; flags: number }): this {
    this.open.push(this.length);
    this.u32(0).fourcc(type);
    if (fullBox) this.u8(fullBox.version).u8(fullBox.flags >> 16).u16(fullBox.flags & 0xffff);
    return this;
  }

  end(): this {
    const start = this.open.pop()!;
    this.view.setUint32(start, this.length - start);
    return this;
  }

  get size(): number {
    return this.length;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const full = { version: 0, flags: 0 };

/** Runs of equal values: [count, value] pairs, as stts and ctts store them. */
function runs(values: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const v of values) {
    const last = out.at(-1);
    if (last && last[1] === v) last[0]++;
    else out.push([1, v]);
  }
  return out;
}

function writeMoov(w: BoxWriter, track: Mp4Track, dataStart: number, wide: boolean): void {
  const { samples, timescale } = track;
  const mediaDuration = samples.reduce((n, s) => n + s.duration, 0);
  if (mediaDuration >= UINT32) throw new Error('the clip is too long for a 32-bit duration');
  const movieDuration = Math.round((mediaDuration / timescale) * MOVIE_TIMESCALE);
  w.begin('moov');
  w.begin('mvhd', full).u32(0).u32(0).u32(MOVIE_TIMESCALE).u32(movieDuration).u32(0x10000).u16(0x100).u16(0).u32(0).u32(0);
  MATRIX.forEach((v) => w.u32(v));
  for (let i = 0; i < 6; i++) w.u32(0);
  w.u32(2).end();
  w.begin('trak');
  w.begin('tkhd', { version: 0, flags: 3 }).u32(0).u32(0).u32(1).u32(0).u32(movieDuration).u32(0).u32(0).u16(0).u16(0).u16(0).u16(0);
  MATRIX.forEach((v) => w.u32(v));
  w.u32(track.width * 0x10000).u32(track.height * 0x10000).end();
  const firstOffset = samples[0]?.ctsOffset ?? 0;
  if (firstOffset > 0) {
    // With B-frames the first picture is shown at its composition time: the edit starts the clip there.
    w.begin('edts').begin('elst', full).u32(1).u32(movieDuration).u32(firstOffset).u16(1).u16(0).end().end();
  }
  w.begin('mdia');
  w.begin('mdhd', full).u32(0).u32(0).u32(timescale).u32(mediaDuration).u16(0x55c4).u16(0).end(); // language "und"
  w.begin('hdlr', full).u32(0).fourcc('vide').u32(0).u32(0).u32(0).fourcc('VideoHandler').u8(0).end();
  w.begin('minf');
  w.begin('vmhd', { version: 0, flags: 1 }).u16(0).u16(0).u16(0).u16(0).end();
  w.begin('dinf').begin('dref', full).u32(1).begin('url ', { version: 0, flags: 1 }).end().end().end();
  w.begin('stbl');
  w.begin('stsd', full).u32(1);
  w.begin('avc1').bytes([0, 0, 0, 0, 0, 0]).u16(1).u16(0).u16(0).u32(0).u32(0).u32(0);
  w.u16(track.width).u16(track.height).u32(0x480000).u32(0x480000).u32(0).u16(1).bytes(new Uint8Array(32)).u16(0x18).u16(0xffff);
  w.begin('avcC').bytes(track.avcC).end();
  w.end().end(); // avc1, stsd
  const stts = runs(samples.map((s) => s.duration));
  w.begin('stts', full).u32(stts.length);
  for (const [count, delta] of stts) w.u32(count).u32(delta);
  w.end();
  if (samples.some((s) => s.ctsOffset !== 0)) {
    const ctts = runs(samples.map((s) => s.ctsOffset));
    w.begin('ctts', full).u32(ctts.length);
    for (const [count, offset] of ctts) w.u32(count).u32(offset);
    w.end();
  }
  if (!samples.every((s) => s.sync)) {
    const syncs = samples.flatMap((s, i) => (s.sync ? [i + 1] : []));
    w.begin('stss', full).u32(syncs.length);
    syncs.forEach((n) => w.u32(n));
    w.end();
  }
  w.begin('stsc', full).u32(1).u32(1).u32(1).u32(1).end();
  w.begin('stsz', full).u32(0).u32(samples.length);
  samples.forEach((s) => w.u32(s.size));
  w.end();
  w.begin(wide ? 'co64' : 'stco', full).u32(samples.length);
  let offset = dataStart;
  for (const s of samples) {
    if (wide) w.u64(offset);
    else w.u32(offset);
    offset += s.size;
  }
  w.end();
  w.end().end().end().end().end(); // stbl, minf, mdia, trak, moov
}

/** Everything before the first sample's bytes: ftyp, moov and the mdat header. */
export function mp4Head(track: Mp4Track): Uint8Array {
  const dataBytes = track.samples.reduce((n, s) => n + s.size, 0);
  const mdatHeader = dataBytes + 8 < UINT32 ? 8 : 16;
  const build = (dataStart: number, wide: boolean): BoxWriter => {
    const w = new BoxWriter();
    w.begin('ftyp').fourcc('isom').u32(0x200).fourcc('isom').fourcc('iso2').fourcc('avc1').fourcc('mp41').end();
    writeMoov(w, track, dataStart, wide);
    if (mdatHeader === 8) w.u32(dataBytes + 8).fourcc('mdat');
    else w.u32(1).fourcc('mdat').u64(dataBytes + 16);
    return w;
  };
  // The offsets depend on the head's own size, which does not depend on their values.
  let head = build(0, false);
  const wide = head.size + dataBytes >= UINT32;
  if (wide) head = build(0, true);
  return build(head.size, wide).result();
}

/**
 * Reads the one H.264 stream of an MPEG-TS segment as the pre-roll ffmpeg writes it (one PES packet
 * per access unit, video only): its access units in decode order with their 90 kHz timestamps.
 * Anything else (another codec, no program tables) is NotRemuxable: the caller lets ffmpeg join it.
 */

import { open } from 'node:fs/promises';

/** The input is valid but not what the in-process join handles; ffmpeg can still join it. */
export class NotRemuxable extends Error {}

export interface AccessUnit {
  /** 90 kHz, as in the PES header (33 bits, not unwrapped). */
  pts: number;
  dts: number;
  /** The Annex B bytes of the access unit. */
  data: Buffer;
}

const PACKET = 188;
const SYNC = 0x47;
const STREAM_TYPE_H264 = 0x1b;
const PAT_PID = 0;

function timestamp(b: Uint8Array, at: number): number {
  // 33 bits in 5 bytes with marker bits; beyond 2^31, so arithmetic, not bitwise operators, for the top.
  return (b[at]! & 0x0e) * 536870912 + ((b[at + 1]! << 22) | ((b[at + 2]! & 0xfe) << 14) | (b[at + 3]! << 7) | (b[at + 4]! >> 1));
}

/** The sections of a PSI table (PAT or PMT) starting in this payload: table bytes after the pointer field. */
function section(payload: Uint8Array): Uint8Array {
  const start = 1 + payload[0]!;
  const length = ((payload[start + 1]! & 0x0f) << 8) | payload[start + 2]!;
  if (start + 3 + length > payload.length) throw new NotRemuxable('a program table spans TS packets');
  // Up to, not including, the CRC.
  return payload.subarray(start, start + 3 + length - 4);
}

/**
 * Reads segments one after another into buffers it keeps, so joining a clip allocates (and makes the
 * garbage collector chase) next to nothing per segment or per access unit.
 */
export class AccessUnitReader {
  private file = Buffer.allocUnsafe(1 << 20);
  private unit = Buffer.allocUnsafe(1 << 16);

  /** Calls `onUnit` for each access unit of the segment's H.264 stream, in order; `unit.data` is only valid during the call. */
  async readFile(path: string, onUnit: (unit: AccessUnit) => void): Promise<void> {
    const handle = await open(path, 'r');
    let length = 0;
    try {
      const { size } = await handle.stat();
      if (size > this.file.length) this.file = Buffer.allocUnsafe(size);
      for (let got = -1; got !== 0 && length < size; length += got) {
        ({ bytesRead: got } = await handle.read(this.file, length, size - length, length));
      }
    } finally {
      await handle.close();
    }
    this.read(this.file.subarray(0, length), onUnit);
  }

  private read(bytes: Buffer, onUnit: (unit: AccessUnit) => void): void {
    if (bytes.length % PACKET !== 0) throw new NotRemuxable(`${bytes.length} bytes is not a whole number of TS packets`);
    let pmtPid = -1;
    let videoPid = -1;
    // A plain view: its subarray() is cheaper than a Buffer's, which builds a Buffer each time.
    const raw = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    // The current unit's payload as [start, end) pairs of offsets into `bytes`: copied once, when it ends.
    const spans: number[] = [];
    let length = 0;
    let head: Omit<AccessUnit, 'data'> | null = null;
    const finish = (): void => {
      if (!head) return;
      if (length > this.unit.length) this.unit = Buffer.allocUnsafe(2 * length);
      for (let i = 0, at = 0; i < spans.length; i += 2) {
        this.unit.set(raw.subarray(spans[i]!, spans[i + 1]!), at);
        at += spans[i + 1]! - spans[i]!;
      }
      onUnit({ pts: head.pts, dts: head.dts, data: this.unit.subarray(0, length) });
      spans.length = 0;
      length = 0;
      head = null;
    };
    for (let at = 0; at < bytes.length; at += PACKET) {
      if (bytes[at] !== SYNC) throw new NotRemuxable(`no TS sync byte at ${at}`);
      const unitStart = (bytes[at + 1]! & 0x40) !== 0;
      const pid = ((bytes[at + 1]! & 0x1f) << 8) | bytes[at + 2]!;
      const control = (bytes[at + 3]! >> 4) & 0x3;
      let payloadAt = at + 4;
      if (control & 0x2) payloadAt += 1 + bytes[payloadAt]!; // the adaptation field
      const end = at + PACKET;
      if (!(control & 0x1) || payloadAt >= end) continue;
      if (pid === videoPid) {
        if (unitStart) {
          finish();
          if (bytes[payloadAt] !== 0 || bytes[payloadAt + 1] !== 0 || bytes[payloadAt + 2] !== 1) throw new NotRemuxable('a PES packet without its start code');
          const flags = bytes[payloadAt + 7]!;
          if (!(flags & 0x80)) throw new NotRemuxable('an access unit without a timestamp');
          const pts = timestamp(bytes, payloadAt + 9);
          head = { pts, dts: flags & 0x40 ? timestamp(bytes, payloadAt + 14) : pts };
          payloadAt += 9 + bytes[payloadAt + 8]!;
        } else if (!head) continue;
        spans.push(payloadAt, end);
        length += end - payloadAt;
      } else if (pid === PAT_PID && unitStart) {
        const pat = section(bytes.subarray(payloadAt, end));
        // One program: the first entry after the 8-byte header whose program number is not 0 (the NIT).
        for (let i = 8; i + 4 <= pat.length; i += 4) {
          if (((pat[i]! << 8) | pat[i + 1]!) !== 0) {
            pmtPid = ((pat[i + 2]! & 0x1f) << 8) | pat[i + 3]!;
            break;
          }
        }
      } else if (pid === pmtPid && unitStart) {
        const pmt = section(bytes.subarray(payloadAt, end));
        const infoLength = ((pmt[10]! & 0x0f) << 8) | pmt[11]!;
        let pidFound = -1;
        for (let i = 12 + infoLength; i + 5 <= pmt.length; ) {
          const type = pmt[i]!;
          const esPid = ((pmt[i + 1]! & 0x1f) << 8) | pmt[i + 2]!;
          if (type === STREAM_TYPE_H264) {
            pidFound = esPid;
            break;
          }
          i += 5 + (((pmt[i + 3]! & 0x0f) << 8) | pmt[i + 4]!);
        }
        if (pidFound < 0) throw new NotRemuxable('the segment has no H.264 stream');
        videoPid = pidFound;
      }
    }
    finish();
    if (videoPid < 0) throw new NotRemuxable('the segment has no program tables');
  }
}

/**
 * What an MP4 file needs to know of an H.264 stream: its NAL units (from Annex B byte streams), the
 * picture size from the sequence parameter set (ITU-T H.264 7.3.2.1.1), and the avcC decoder
 * configuration record (ISO/IEC 14496-15 5.3.3.1) built from the parameter sets.
 */
import { NotRemuxable } from './mpegts.js';

export const NAL_IDR = 5;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_AUD = 9;

export const nalType = (nal: Uint8Array): number => nal[0]! & 0x1f;

const START_CODE = Buffer.from([0, 0, 1]);

/** The NAL units of an Annex B byte stream, without start codes or the zero bytes before them. */
export function nalUnits(data: Uint8Array): Uint8Array[] {
  // Buffer.indexOf searches natively: fast from the first call, before the JIT has seen this code.
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const units: Uint8Array[] = [];
  let at = bytes.indexOf(START_CODE);
  while (at >= 0) {
    const next = bytes.indexOf(START_CODE, at + 3);
    const unit = trimZeros(data, at + 3, next < 0 ? data.length : next);
    if (unit.length) units.push(unit);
    at = next;
  }
  return units;
}

function trimZeros(data: Uint8Array, start: number, end: number): Uint8Array {
  while (end > start && data[end - 1] === 0) end--;
  return data.subarray(start, end);
}

/** Reads the bits of a NAL unit's payload with its emulation prevention bytes taken out. */
class BitReader {
  private readonly bytes: Uint8Array;
  private bit = 0;

  constructor(nal: Uint8Array) {
    const out: number[] = [];
    for (let i = 1; i < nal.length; i++) {
      if (i >= 3 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
      out.push(nal[i]!);
    }
    this.bytes = Uint8Array.from(out);
  }

  u(n: number): number {
    let v = 0;
    for (let k = 0; k < n; k++) {
      const byte = this.bytes[this.bit >> 3];
      if (byte === undefined) throw new NotRemuxable('a parameter set ends early');
      v = v * 2 + ((byte >> (7 - (this.bit & 7))) & 1);
      this.bit++;
    }
    return v;
  }

  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) if (++zeros > 31) throw new NotRemuxable('a parameter set has a malformed number');
    return 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -k / 2;
  }
}

/** The id an SPS or PPS is known by: the first number after its profile and level (SPS) or at its start (PPS). */
export function parameterSetId(nal: Uint8Array): number {
  const r = new BitReader(nal);
  if (nalType(nal) === NAL_SPS) r.u(24); // profile_idc, constraint flags, level_idc
  return r.ue();
}

export interface SpsInfo {
  width: number;
  height: number;
  profile: number;
  chromaFormat: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135, 144]);

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** The displayed picture size and format of a sequence parameter set. Field-coded video is NotRemuxable. */
export function parseSps(sps: Uint8Array): SpsInfo {
  const r = new BitReader(sps);
  const profile = r.u(8);
  r.u(16); // constraint flags, level
  r.ue(); // seq_parameter_set_id
  let chromaFormat = 1;
  let separatePlanes = 0;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  if (HIGH_PROFILES.has(profile)) {
    chromaFormat = r.ue();
    if (chromaFormat === 3) separatePlanes = r.u(1);
    bitDepthLuma = r.ue() + 8;
    bitDepthChroma = r.ue() + 8;
    r.u(1); // qpprime_y_zero_transform_bypass_flag
    if (r.u(1)) {
      for (let i = 0; i < (chromaFormat !== 3 ? 8 : 12); i++) if (r.u(1)) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.u(1);
    r.se();
    r.se();
    const cycle = r.ue();
    for (let i = 0; i < cycle; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.u(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  if (!r.u(1)) throw new NotRemuxable('field-coded (interlaced) H.264');
  r.u(1); // direct_8x8_inference_flag
  let crop = [0, 0, 0, 0];
  if (r.u(1)) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
  const arrayType = separatePlanes ? 0 : chromaFormat;
  const cropX = arrayType === 0 ? 1 : arrayType === 3 ? 1 : 2;
  const cropY = arrayType === 1 ? 2 : 1;
  const width = widthMbs * 16 - (crop[0]! + crop[1]!) * cropX;
  const height = heightMapUnits * 16 - (crop[2]! + crop[3]!) * cropY;
  if (width <= 0 || height <= 0) throw new NotRemuxable(`a parameter set gives a ${width}x${height} picture`);
  return { width, height, profile, chromaFormat, bitDepthLuma, bitDepthChroma };
}

/** The avcC box's payload: the decoder configuration record for these parameter sets (4-byte NAL lengths). */
export function avcDecoderConfiguration(spsList: Uint8Array[], ppsList: Uint8Array[]): Uint8Array {
  const first = spsList[0]!;
  const info = parseSps(first);
  const parts: number[] = [1, first[1]!, first[2]!, first[3]!, 0xff, 0xe0 | spsList.length];
  const add = (nal: Uint8Array): void => {
    parts.push(nal.length >> 8, nal.length & 0xff, ...nal);
  };
  spsList.forEach(add);
  parts.push(ppsList.length);
  ppsList.forEach(add);
  if ([100, 110, 122, 144].includes(info.profile)) {
    parts.push(0xfc | info.chromaFormat, 0xf8 | (info.bitDepthLuma - 8), 0xf8 | (info.bitDepthChroma - 8), 0);
  }
  return Uint8Array.from(parts);
}

/**
 * The few parts of POSIX ustar the evidence bundle needs: regular files with short names, written
 * and read without a dependency so the exact byte length is known before the upload starts.
 */

export const BLOCK = 512;
/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);
const MAX_NAME_BYTES = 100;
const MAX_SIZE = 8 ** 11 - 1; // 11 octal digits

export interface TarFile {
  name: string;
  data: Buffer;
}

export function tarPadding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Bytes one file takes in the archive: header, data, padding. */
export function tarEntryLength(size: number): number {
  return BLOCK + size + tarPadding(size);
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** A ustar header for a regular file, mode 0644, owner 0:0. */
export function tarHeader(name: string, size: number, mtimeMs: number): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length === 0 || nameBytes.length > MAX_NAME_BYTES || !/^[\x21-\x7e]+$/.test(name)) {
    throw new RangeError(`tar entry name must be 1..${MAX_NAME_BYTES} printable ASCII characters: ${JSON.stringify(name)}`);
  }
  if (!Number.isInteger(size) || size < 0 || size > MAX_SIZE) throw new RangeError(`tar entry size out of range: ${size}`);
  const header = Buffer.alloc(BLOCK);
  nameBytes.copy(header, 0);
  header.write(octal(0o644, 8), 100, 'ascii');
  header.write(octal(0, 8), 108, 'ascii');
  header.write(octal(0, 8), 116, 'ascii');
  header.write(octal(size, 12), 124, 'ascii');
  header.write(octal(Math.max(0, Math.floor(mtimeMs / 1000)), 12), 136, 'ascii');
  header.write('        ', 148, 'ascii'); // the checksum is computed with its own field as spaces
  header.write('0', 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  header.write(octal(checksum(header), 7) + ' ', 148, 'ascii');
  return header;
}

function checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum;
}

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

function parseOctal(text: string, what: string): number {
  const trimmed = text.trim();
  if (!/^[0-7]+$/.test(trimmed)) throw new Error(`tar header ${what} is not octal: ${JSON.stringify(text)}`);
  return parseInt(trimmed, 8);
}

/** Reads every regular file of a ustar archive; throws on anything malformed or unexpected. */
export function parseTar(archive: Buffer): TarFile[] {
  const files: TarFile[] = [];
  let offset = 0;
  for (;;) {
    if (offset + BLOCK > archive.length) throw new Error('tar archive ends without its two zero blocks');
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) {
      const next = archive.subarray(offset + BLOCK, offset + 2 * BLOCK);
      if (next.length < BLOCK || !next.every((b) => b === 0)) throw new Error('tar archive ends without its two zero blocks');
      if (!archive.subarray(offset + 2 * BLOCK).every((b) => b === 0)) throw new Error('data after the end of the tar archive');
      return files;
    }
    if (parseOctal(field(header, 148, 8), 'checksum') !== checksum(header)) {
      throw new Error(`tar header at byte ${offset} has a wrong checksum`);
    }
    if (field(header, 257, 6) !== 'ustar' || header.toString('ascii', 263, 265) !== '00') {
      throw new Error(`tar header at byte ${offset} is not POSIX ustar`);
    }
    const type = String.fromCharCode(header[156]!);
    const prefix = field(header, 345, 155);
    const name = (prefix ? prefix + '/' : '') + field(header, 0, 100);
    if (type !== '0' && type !== '\0') throw new Error(`tar entry ${JSON.stringify(name)} is not a regular file (type ${JSON.stringify(type)})`);
    const size = parseOctal(field(header, 124, 12), 'size');
    const start = offset + BLOCK;
    if (start + size > archive.length) throw new Error(`tar entry ${JSON.stringify(name)} is truncated`);
    files.push({ name, data: archive.subarray(start, start + size) });
    offset = start + size + tarPadding(size);
  }
}

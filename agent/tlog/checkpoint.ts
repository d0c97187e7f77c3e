/**
 * C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint): the origin line, the tree size in
 * decimal, the root hash in standard base64, then optional extension lines; every line ends in "\n".
 */
import { base64Decode, base64Encode } from './bytes.js';

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  extensions: string[];
}

function checkLine(what: string, line: string): void {
  if (line.length === 0) throw new Error(`checkpoint ${what} is empty`);
  if (/[\n\u0000-\u001f\u007f]/.test(line)) throw new Error(`checkpoint ${what} has a control character`);
}

export function formatCheckpoint(c: Checkpoint): string {
  checkLine('origin', c.origin);
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new Error(`checkpoint size must be a whole number, got ${c.size}`);
  if (c.rootHash.length !== 32) throw new Error(`checkpoint root hash must be 32 bytes, got ${c.rootHash.length}`);
  for (const line of c.extensions) checkLine('extension line', line);
  return [c.origin, String(c.size), base64Encode(c.rootHash), ...c.extensions].map((line) => `${line}\n`).join('');
}

export function parseCheckpoint(body: string): Checkpoint {
  if (!body.endsWith('\n')) throw new Error('checkpoint does not end with a newline');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) throw new Error(`checkpoint has ${lines.length} lines, needs at least 3 (origin, size, root hash)`);
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  checkLine('origin', origin);
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new Error(`checkpoint size "${sizeText}" is not a decimal number without leading zeros`);
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new Error(`checkpoint size ${sizeText} is too large`);
  let rootHash: Uint8Array;
  try {
    rootHash = base64Decode(rootText);
  } catch {
    throw new Error(`checkpoint root hash "${rootText}" is not standard base64`);
  }
  if (rootHash.length !== 32) throw new Error(`checkpoint root hash is ${rootHash.length} bytes, not 32`);
  for (const line of extensions) checkLine('extension line', line);
  return { origin, size, rootHash, extensions };
}

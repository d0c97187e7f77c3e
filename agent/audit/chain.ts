import { createHash } from 'node:crypto';

/** hash_0: the "previous hash" of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * hash_n = sha256(hash_{n-1} || "\n" || entry_n), lowercase hex. The input is text: the previous
 * hash as its 64-character hex string, a newline, and the entry exactly as stored, all UTF-8.
 */
export function chainHash(previousHash: string, entry: string): string {
  return createHash('sha256').update(`${previousHash}\n${entry}`, 'utf8').digest('hex');
}

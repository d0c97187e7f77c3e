/**
 * RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.
 * Proof generation follows the RFC's recursive definitions (PATH and SUBPROOF); verification follows
 * RFC 9162 sections 2.1.3.2 and 2.1.4.2, which need nothing but the proof and the two tree sizes.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, equalBytes } from './bytes.js';

export function leafHash(entry: Uint8Array): Uint8Array {
  return sha256(concatBytes(Uint8Array.of(0x00), entry));
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concatBytes(Uint8Array.of(0x01), left, right));
}

/** The hash of the empty tree: SHA-256 of no bytes. */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/**
 * The leaves of a log, by leaf HASH. `subtree` is an optional cache: the hash of the complete subtree of
 * 2^level leaves starting at `index` (a multiple of 2^level), so stored logs answer in O(log n) lookups.
 */
export interface LeafSource {
  size: number;
  leaf(index: number): Uint8Array;
  subtree?(index: number, level: number): Uint8Array | undefined;
}

function checkSize(src: LeafSource, size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`tree size must be a whole number, got ${size}`);
  if (size > src.size) throw new Error(`tree size ${size} is beyond the log's ${src.size} entries`);
}

/** Largest power of two strictly smaller than n (n >= 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Level of a complete subtree of n leaves, or -1 when n is not a power of two. */
function levelOf(n: number): number {
  let level = 0;
  while (2 ** level < n) level++;
  return 2 ** level === n ? level : -1;
}

/** MTH(D[start:end]). */
function rangeHash(src: LeafSource, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n === 1) return src.leaf(start);
  const level = levelOf(n);
  if (level > 0 && start % n === 0) {
    const cached = src.subtree?.(start, level);
    if (cached) return cached;
  }
  const k = split(n);
  return nodeHash(rangeHash(src, start, start + k), rangeHash(src, start + k, end));
}

export function rootHash(src: LeafSource, size: number = src.size): Uint8Array {
  checkSize(src, size);
  return size === 0 ? EMPTY_ROOT : rangeHash(src, 0, size);
}

/** PATH(m, D[start:end]), RFC 6962 section 2.1.1. */
function path(src: LeafSource, m: number, start: number, end: number): Uint8Array[] {
  const n = end - start;
  if (n === 1) return [];
  const k = split(n);
  if (m < k) return [...path(src, m, start, start + k), rangeHash(src, start + k, end)];
  return [...path(src, m - k, start + k, end), rangeHash(src, start, start + k)];
}

export function inclusionProof(src: LeafSource, index: number, size: number): Uint8Array[] {
  checkSize(src, size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new Error(`leaf ${index} is not in a tree of ${size} entries`);
  return path(src, index, 0, size);
}

/** SUBPROOF(m, D[start:end], b), RFC 6962 section 2.1.2. */
function subproof(src: LeafSource, m: number, start: number, end: number, complete: boolean): Uint8Array[] {
  const n = end - start;
  if (m === n) return complete ? [] : [rangeHash(src, start, end)];
  const k = split(n);
  if (m <= k) return [...subproof(src, m, start, start + k, complete), rangeHash(src, start + k, end)];
  return [...subproof(src, m - k, start + k, end, false), rangeHash(src, start, start + k)];
}

/** Empty when oldSize is 0 or equals newSize: nothing needs proving then. */
export function consistencyProof(src: LeafSource, oldSize: number, newSize: number): Uint8Array[] {
  checkSize(src, newSize);
  if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > newSize) {
    throw new Error(`cannot prove a tree of ${oldSize} entries consistent with one of ${newSize}`);
  }
  if (oldSize === 0 || oldSize === newSize) return [];
  return subproof(src, oldSize, 0, newSize, true);
}

function isHash(h: Uint8Array): boolean {
  return h instanceof Uint8Array && h.length === 32;
}

export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (!isHash(leaf) || !isHash(root) || !proof.every(isHash)) return false;
  // fn/sn are bit positions of the leaf and the last leaf; BigInt keeps the shifts exact past 2^31.
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(r, root);
}

export function verifyConsistency(oldSize: number, newSize: number, oldRoot: Uint8Array, newRoot: Uint8Array, proof: Uint8Array[]): boolean {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || oldSize > newSize) return false;
  if (!isHash(oldRoot) || !isHash(newRoot) || !proof.every(isHash)) return false;
  if (oldSize === newSize) return proof.length === 0 && equalBytes(oldRoot, newRoot);
  if (oldSize === 0) return proof.length === 0 && equalBytes(oldRoot, EMPTY_ROOT);
  if (proof.length === 0) return false;
  const path = levelOf(oldSize) >= 0 ? [oldRoot, ...proof] : proof;
  let fn = BigInt(oldSize - 1);
  let sn = BigInt(newSize - 1);
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(fr, oldRoot) && equalBytes(sr, newRoot);
}

/** An in-memory log of leaf hashes that keeps every complete subtree, so proofs cost O(log n) hashes. */
import { nodeHash, type LeafSource } from './merkle.js';

export class MemoryTree implements LeafSource {
  /** levels[L][i] is the hash of the complete subtree of 2^L leaves starting at leaf i * 2^L. */
  private readonly levels: Uint8Array[][] = [[]];

  get size(): number {
    return this.levels[0]!.length;
  }

  leaf(index: number): Uint8Array {
    const hash = this.levels[0]![index];
    if (!hash) throw new Error(`no leaf ${index} in a log of ${this.size}`);
    return hash;
  }

  subtree(index: number, level: number): Uint8Array | undefined {
    return this.levels[level]?.[index / 2 ** level];
  }

  /** Appends one leaf HASH and returns its index. */
  append(leafHash: Uint8Array): number {
    const index = this.size;
    this.levels[0]!.push(leafHash);
    let level = 0;
    let position = index;
    // Each time the new node completes a pair, the parent subtree becomes complete too.
    while (position % 2 === 1) {
      const row = this.levels[level]!;
      const parent = nodeHash(row[position - 1]!, row[position]!);
      level++;
      position = (position - 1) / 2;
      (this.levels[level] ??= []).push(parent);
    }
    return index;
  }
}

import Database from 'better-sqlite3';
import { ed25519 } from '@noble/curves/ed25519.js';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import {
  base64Decode,
  consistencyProof,
  EMPTY_ROOT,
  formatCheckpoint,
  formatVerifierKey,
  inclusionProof,
  leafHash,
  MemoryTree,
  nodeHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  rootHash,
  signNote,
  SqliteTree,
  sqliteTreeSchema,
  verifyConsistency,
  verifyInclusion,
  type LeafSource,
} from '../../agent/tlog/index.js';

const h = (hexText: string) => new Uint8Array(Buffer.from(hexText, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// RFC 6962 test vectors as used by Certificate Transparency and golang.org/x/mod/sumdb/tlog.
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

function vectorTree(): MemoryTree {
  const tree = new MemoryTree();
  for (const leaf of LEAVES) tree.append(leafHash(h(leaf)));
  return tree;
}

/** The RFC 6962 definitions over a plain array, with no caching: the reference for the brute force. */
function naiveRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(naiveRoot(leaves.slice(0, k)), naiveRoot(leaves.slice(k)));
}
function naivePath(m: number, leaves: Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m < k
    ? [...naivePath(m, leaves.slice(0, k)), naiveRoot(leaves.slice(k))]
    : [...naivePath(m - k, leaves.slice(k)), naiveRoot(leaves.slice(0, k))];
}
function naiveSubproof(m: number, leaves: Uint8Array[], complete: boolean): Uint8Array[] {
  if (m === leaves.length) return complete ? [] : [naiveRoot(leaves)];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m <= k
    ? [...naiveSubproof(m, leaves.slice(0, k), complete), naiveRoot(leaves.slice(k))]
    : [...naiveSubproof(m - k, leaves.slice(k), false), naiveRoot(leaves.slice(0, k))];
}

function flipped(b: Uint8Array): Uint8Array {
  const copy = new Uint8Array(b);
  copy[7]! ^= 0x20;
  return copy;
}

describe('RFC 6962 vectors', () => {
  it('leaf hashes and roots for every prefix of the 8 reference leaves', () => {
    const tree = vectorTree();
    expect(toHex(leafHash(new Uint8Array(0)))).toBe(ROOTS[0]);
    ROOTS.forEach((root, i) => expect(toHex(rootHash(tree, i + 1))).toBe(root));
    expect(toHex(rootHash(tree, 0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('inclusion proofs of the reference vectors', () => {
    const tree = vectorTree();
    const proof = ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'];
    expect(inclusionProof(tree, 5, 8).map(toHex)).toEqual(proof);
    expect(verifyInclusion(leafHash(h(LEAVES[5]!)), 5, 8, proof.map(h), h(ROOTS[7]!))).toBe(true);
    expect(verifyInclusion(leafHash(h(LEAVES[5]!)), 4, 8, proof.map(h), h(ROOTS[7]!))).toBe(false);
    expect(inclusionProof(tree, 2, 3).map(toHex)).toEqual([ROOTS[1]]);
    expect(verifyInclusion(leafHash(h(LEAVES[2]!)), 2, 3, [h(ROOTS[1]!)], h(ROOTS[2]!))).toBe(true);
  });

  it('consistency proofs of the reference vectors', () => {
    const tree = vectorTree();
    const proof68 = ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'];
    expect(consistencyProof(tree, 6, 8).map(toHex)).toEqual(proof68);
    expect(verifyConsistency(6, 8, h(ROOTS[5]!), h(ROOTS[7]!), proof68.map(h))).toBe(true);
    expect(verifyConsistency(6, 8, h(ROOTS[4]!), h(ROOTS[7]!), proof68.map(h))).toBe(false);
    const proof25 = ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b'];
    expect(consistencyProof(tree, 2, 5).map(toHex)).toEqual(proof25);
    expect(verifyConsistency(2, 5, h(ROOTS[1]!), h(ROOTS[4]!), proof25.map(h))).toBe(true);
  });
});

describe('proofs for every tree size up to 64, against the RFC definitions', () => {
  const N = 64;
  const leaves = Array.from({ length: N }, (_, i) => leafHash(new TextEncoder().encode(`entry ${i}`)));
  const memory = new MemoryTree();
  for (const leaf of leaves) memory.append(leaf);
  const db = new Database(':memory:');
  db.exec(sqliteTreeSchema('t'));
  const stored = new SqliteTree(db, 't');
  db.transaction(() => leaves.forEach((leaf, i) => stored.append(i, leaf)))();
  const uncached: LeafSource = { size: N, leaf: (i) => leaves[i]! };
  const roots = Array.from({ length: N + 1 }, (_, n) => naiveRoot(leaves.slice(0, n)));

  it('roots agree for the cached, stored and uncached sources', () => {
    expect(stored.size).toBe(N);
    for (let n = 0; n <= N; n++) {
      for (const src of [memory, stored, uncached]) expect(toHex(rootHash(src, n))).toBe(toHex(roots[n]!));
    }
  });

  it('every inclusion proof matches PATH, verifies, and fails when anything is changed', () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(memory, m, n);
        expect(proof.map(toHex)).toEqual(naivePath(m, leaves.slice(0, n)).map(toHex));
        expect(inclusionProof(stored, m, n).map(toHex)).toEqual(proof.map(toHex));
        expect(verifyInclusion(leaves[m]!, m, n, proof, roots[n]!)).toBe(true);
        expect(verifyInclusion(leaves[m]!, m, n, proof, roots[n - 1]!)).toBe(false);
        expect(verifyInclusion(flipped(leaves[m]!), m, n, proof, roots[n]!)).toBe(false);
        if (m + 1 < n) expect(verifyInclusion(leaves[m]!, m + 1, n, proof, roots[n]!)).toBe(false);
        expect(verifyInclusion(leaves[m]!, m, n, [...proof, leaves[0]!], roots[n]!)).toBe(false);
        proof.forEach((_, i) => {
          expect(verifyInclusion(leaves[m]!, m, n, proof.map((p, j) => (j === i ? flipped(p) : p)), roots[n]!)).toBe(false);
          expect(verifyInclusion(leaves[m]!, m, n, proof.filter((_, j) => j !== i), roots[n]!)).toBe(false);
        });
      }
    }
  });

  it('every consistency proof matches SUBPROOF, verifies, and fails when anything is changed', () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m <= n; m++) {
        const proof = consistencyProof(memory, m, n);
        const expected = m === 0 || m === n ? [] : naiveSubproof(m, leaves.slice(0, n), true);
        expect(proof.map(toHex)).toEqual(expected.map(toHex));
        expect(consistencyProof(stored, m, n).map(toHex)).toEqual(proof.map(toHex));
        expect(verifyConsistency(m, n, roots[m]!, roots[n]!, proof)).toBe(true);
        if (m > 0) expect(verifyConsistency(m, n, flipped(roots[m]!), roots[n]!, proof)).toBe(false);
        // From the empty tree every tree is a consistent extension: only a non-empty old tree binds the new root.
        if (m > 0) expect(verifyConsistency(m, n, roots[m]!, flipped(roots[n]!), proof)).toBe(false);
        if (m > 0 && m < n) {
          expect(verifyConsistency(m - 1, n, roots[m]!, roots[n]!, proof)).toBe(false);
          expect(verifyConsistency(m, n, roots[m]!, roots[n]!, [...proof, leaves[0]!])).toBe(false);
          proof.forEach((_, i) => {
            expect(verifyConsistency(m, n, roots[m]!, roots[n]!, proof.map((p, j) => (j === i ? flipped(p) : p)))).toBe(false);
            expect(verifyConsistency(m, n, roots[m]!, roots[n]!, proof.filter((_, j) => j !== i))).toBe(false);
          });
        }
      }
    }
    expect(verifyConsistency(5, 4, roots[5]!, roots[4]!, [])).toBe(false);
  });

  it('refuses to prove what the log does not hold', () => {
    expect(() => inclusionProof(memory, 5, 5)).toThrow(/not in a tree of 5/);
    expect(() => inclusionProof(memory, 0, N + 1)).toThrow(/beyond the log/);
    expect(() => consistencyProof(memory, 6, 5)).toThrow(/cannot prove/);
  });
});

describe('C2SP tlog-checkpoint', () => {
  const root = h(ROOTS[7]!);
  it('formats and parses the body, extension lines included', () => {
    const body = formatCheckpoint({ origin: 'doorbell.local/abc', size: 8, rootHash: root, extensions: ['ext one'] });
    expect(body).toBe('doorbell.local/abc\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\next one\n');
    expect(parseCheckpoint(body)).toEqual({ origin: 'doorbell.local/abc', size: 8, rootHash: root, extensions: ['ext one'] });
  });
  it.each([
    ['example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=', /newline/],
    ['example.com/log\n8\n', /at least 3/],
    ['example.com/log\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n', /leading zeros/],
    ['example.com/log\n-1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n', /decimal/],
    ['example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg=\n', /base64/],
    ['example.com/log\n8\nAAAA\n', /not 32/],
    ['\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n', /origin is empty/],
    ['example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n', /extension line is empty/],
  ])('rejects %j', (body, message) => {
    expect(() => parseCheckpoint(body)).toThrow(message);
  });
});

describe('C2SP signed notes (golang.org/x/mod/sumdb/note vectors)', () => {
  const vkey = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
  const enochKey = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
  // The seed of skey "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz".
  const seed = base64Decode('AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz').slice(1);
  const text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
  const peterSig = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
  const enochSig = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
  const peter = parseVerifierKey(vkey);
  const enoch = parseVerifierKey(enochKey);

  it('parses and re-formats the verifier key', () => {
    expect(peter.name).toBe('PeterNeumann');
    expect(formatVerifierKey(peter)).toBe(vkey);
    expect(toHex(ed25519.getPublicKey(seed))).toBe(toHex(peter.publicKey));
  });

  it('rejects mangled verifier keys', () => {
    for (let i = 0; i < vkey.length; i++) {
      for (let j = i + 1; j <= vkey.length; j++) if (i !== 0 || j !== vkey.length) expect(() => parseVerifierKey(vkey.slice(i, j))).toThrow();
      const mangled = vkey.slice(0, i) + String.fromCharCode(vkey.charCodeAt(i) + 1) + vkey.slice(i + 1);
      expect(() => parseVerifierKey(mangled)).toThrow();
    }
    expect(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==')).toThrow();
    expect(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow();
  });

  it('signs byte-for-byte as Go does', () => {
    const note = signNote(text, 'PeterNeumann', (msg) => ed25519.sign(msg, seed), peter.publicKey);
    expect(note).toBe(`${text}\n${peterSig}`);
  });

  it('opens notes: verified, cosigned by unknown keys, unsigned by known keys, forged', () => {
    expect(openNote(`${text}\n${peterSig}`, [peter])).toEqual({ body: text, signedBy: ['PeterNeumann'] });
    expect(openNote(`${text}\n${peterSig}${enochSig}`, [peter])).toEqual({ body: text, signedBy: ['PeterNeumann'] });
    expect(openNote(`${text}\n${peterSig}${enochSig}`, [peter, enoch]).signedBy).toEqual(['PeterNeumann', 'EnochRoot']);
    expect(() => openNote(`${text}\n${peterSig}${enochSig}`, [])).toThrow(/no signature by a known key/);
    expect(() => openNote(`${text}\n${enochSig}`, [peter])).toThrow(/no signature by a known key/);
    expect(() => openNote(`${text.replace('cryptography', 'cryptographY')}\n${peterSig}`, [peter])).toThrow(/invalid signature for key PeterNeumann\+c74f20a3/);
    expect(() => openNote(`${text}\n${peterSig.slice(0, 60)}ABCD${peterSig.slice(60)}`, [peter])).toThrow(/invalid signature/);
    expect(() => openNote(`${text}\n${peterSig.repeat(101)}`, [peter])).toThrow(/malformed note/);
  });

  it.each([
    text,
    `${text}\n`,
    `${text}\n${peterSig.slice(0, -1)}`,
    `\x01${text}\n${peterSig}`,
    `${text}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
    `${text}\n${peterSig}Unexpected line.\n`,
  ])('rejects the malformed note %#', (note) => {
    expect(() => openNote(note, [peter])).toThrow();
  });

  it('a signed checkpoint round-trips through a fresh key', () => {
    const secret = ed25519.utils.randomSecretKey();
    const key = { name: 'doorbell.local/test', publicKey: ed25519.getPublicKey(secret) };
    const body = formatCheckpoint({ origin: key.name, size: 3, rootHash: h(ROOTS[2]!), extensions: [] });
    const note = signNote(body, key.name, (msg) => ed25519.sign(msg, secret), key.publicKey);
    const opened = openNote(note, [parseVerifierKey(formatVerifierKey(key))]);
    expect(parseCheckpoint(opened.body).size).toBe(3);
  });
});

it('bundles for the browser: no Node built-ins anywhere in the module', async () => {
  const result = await build({
    entryPoints: ['agent/tlog/index.ts'],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    logLevel: 'silent',
  });
  expect(result.errors).toEqual([]);
  expect(result.outputFiles[0]!.text).not.toMatch(/from\s*["']node:/);
});

/**
 * CPace (draft-irtf-cfrg-cpace-21), cipher suite CPACE-RISTR255-SHA512, initiator-responder mode.
 * Isomorphic (device and phone app): @noble/curves supplies the audited ristretto255 group and its
 * RFC 9496 element derivation, @noble/hashes SHA-512 and HMAC. Section numbers refer to the draft.
 */
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';

type RistrettoPoint = InstanceType<typeof ristretto255.Point>;

const Point = ristretto255.Point;
const encoder = new TextEncoder();
/** G.DSI (8.3) */
export const DSI = encoder.encode('CPaceRistretto255');
/** H.s_in_bytes of SHA-512 */
const HASH_BLOCK_BYTES = 128;
/** G.I: the encoding of the neutral element */
const IDENTITY = new Uint8Array(32);

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** prepend_len (A.1.1): the LEB128 length, then the bytes. */
export function prependLen(data: Uint8Array): Uint8Array {
  const length: number[] = [];
  let n = data.length;
  do {
    const low = n & 0x7f;
    n >>>= 7;
    length.push(n > 0 ? low | 0x80 : low);
  } while (n > 0);
  return concatBytes(Uint8Array.from(length), data);
}

/** lv_cat (A.1.3) */
export function lvCat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts.map(prependLen));
}

/** generator_string (8.1, A.2): DSI and PRS padded to fill SHA-512's first block. */
export function generatorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const zpad = Math.max(0, HASH_BLOCK_BYTES - prependLen(prs).length - prependLen(DSI).length - 1);
  return lvCat(DSI, prs, new Uint8Array(zpad), ci, sid);
}

/** G.calculate_generator (8.3): element derivation of SHA-512(generator_string). */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): RistrettoPoint {
  // deriveToCurve is optional in noble's generic hasher type; the ristretto255 hasher always has it.
  return ristretto255_hasher.deriveToCurve!(sha512(generatorString(prs, ci, sid)));
}

/** A little-endian integer (how the draft's test vectors write scalars). */
export function scalarFromBytes(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/**
 * G.sample_scalar (8.3, the alternative to clearing bits): uniform in [1, order - 1], here 64 random
 * bytes reduced modulo the order (bias below 2^-250), drawn again in the impossible case of 0.
 */
export function sampleScalar(random: (length: number) => Uint8Array): bigint {
  for (;;) {
    const scalar = Point.Fn.create(scalarFromBytes(random(64)));
    if (scalar !== 0n) return scalar;
  }
}

/** G.scalar_mult: encode(y * g) */
export function scalarMult(y: bigint, g: RistrettoPoint): Uint8Array {
  return g.multiply(y).toBytes();
}

/** G.scalar_mult_vfy: encode(y * decode(X)), or G.I when X does not decode. */
export function scalarMultVfy(y: bigint, encoded: Uint8Array): Uint8Array {
  let point: RistrettoPoint;
  try {
    point = Point.fromBytes(encoded);
  } catch {
    // Not a canonical ristretto255 encoding: the draft maps it to the neutral element.
    return IDENTITY;
  }
  if (point.is0()) return IDENTITY;
  return point.multiply(y).toBytes();
}

export function isIdentity(k: Uint8Array): boolean {
  return k.length === IDENTITY.length && k.every((b) => b === 0);
}

/** transcript_ir (6.3): A's message, then B's. */
export function transcriptIr(ya: Uint8Array, ada: Uint8Array, yb: Uint8Array, adb: Uint8Array): Uint8Array {
  return concatBytes(lvCat(ya, ada), lvCat(yb, adb));
}

/** ISK (7.2) = SHA-512(lv_cat(DSI || "_ISK", sid, K) || transcript_ir). */
export function intermediateSessionKey(sid: Uint8Array, k: Uint8Array, transcript: Uint8Array): Uint8Array {
  return sha512(concatBytes(lvCat(concatBytes(DSI, encoder.encode('_ISK')), sid, k), transcript));
}

/** Key confirmation (10.4): mac_key = SHA-512("CPaceMac" || sid || ISK). */
export function confirmationKey(sid: Uint8Array, isk: Uint8Array): Uint8Array {
  return sha512(concatBytes(encoder.encode('CPaceMac'), sid, isk));
}

/** Key confirmation tag (10.4): HMAC-SHA-512(mac_key, lv_cat(Y, AD)) over what that party sent. */
export function confirmationTag(macKey: Uint8Array, y: Uint8Array, ad: Uint8Array): Uint8Array {
  return hmac(sha512, macKey, lvCat(y, ad));
}

/** Constant-time comparison of two tags. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

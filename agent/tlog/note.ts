/**
 * C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note), as golang.org/x/mod/sumdb/note:
 * the text (ending in "\n"), a blank line, then one line per signature:
 * "— <name> <base64(4-byte key hash || 64-byte signature)>\n". The signature covers the text only.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { base64Decode, base64Encode, concatBytes, equalBytes, hex, utf8Encode } from './bytes.js';

const ALG_ED25519 = 0x01;
const MAX_SIGNATURES = 100;
const SIGNATURE_PREFIX = '\u2014 ';

export interface NoteVerifierKey {
  name: string;
  publicKey: Uint8Array;
}

function checkName(name: string): void {
  // Names are non-empty and hold no Unicode spaces and no "+" (it separates the vkey's fields).
  if (name.length === 0 || /[\s+]/u.test(name)) throw new Error(`key name "${name}" is empty or has a space or "+"`);
}

/** First 4 bytes of SHA-256(name || "\n" || 0x01 || public key), as the 4 bytes on the wire. */
export function keyHash(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8Encode(`${name}\n`), Uint8Array.of(ALG_ED25519), publicKey)).subarray(0, 4);
}

export function formatVerifierKey(k: NoteVerifierKey): string {
  checkName(k.name);
  if (k.publicKey.length !== 32) throw new Error(`an Ed25519 public key has 32 bytes, got ${k.publicKey.length}`);
  return `${k.name}+${hex(keyHash(k.name, k.publicKey))}+${base64Encode(concatBytes(Uint8Array.of(ALG_ED25519), k.publicKey))}`;
}

export function parseVerifierKey(vkey: string): NoteVerifierKey {
  const match = /^([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey);
  if (!match) throw new Error('verifier key is not "name+hash+key"');
  const [, name, hash, key] = match as unknown as [string, string, string, string];
  checkName(name);
  let bytes: Uint8Array;
  try {
    bytes = base64Decode(key);
  } catch {
    throw new Error('verifier key material is not standard base64');
  }
  if (bytes.length !== 33 || bytes[0] !== ALG_ED25519) throw new Error('verifier key is not an Ed25519 key (algorithm 1, 32 bytes)');
  const publicKey = bytes.slice(1);
  if (hex(keyHash(name, publicKey)) !== hash) throw new Error('verifier key hash does not match its name and key');
  return { name, publicKey };
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw new Error('note text must end with a newline');
  // Control characters other than newline are not allowed in a note.
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(text)) throw new Error('note text has a control character');
}

/** Signs `body` as a note. `sign` returns the 64-byte Ed25519 signature of its argument. */
export function signNote(body: string, name: string, sign: (msg: Uint8Array) => Uint8Array, publicKey: Uint8Array): string {
  checkText(body);
  checkName(name);
  const signature = sign(utf8Encode(body));
  if (signature.length !== 64) throw new Error('an Ed25519 signature has 64 bytes');
  return `${body}\n${SIGNATURE_PREFIX}${name} ${base64Encode(concatBytes(keyHash(name, publicKey), signature))}\n`;
}

interface SignatureLine {
  name: string;
  hash: Uint8Array;
  signature: Uint8Array;
}

function parseSignatureLine(line: string): SignatureLine {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw new Error('malformed note: a signature line does not start with "— "');
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(' ');
  const name = rest.slice(0, space);
  if (space <= 0) throw new Error('malformed note: a signature line has no key name');
  checkName(name);
  let blob: Uint8Array;
  try {
    blob = base64Decode(rest.slice(space + 1));
  } catch {
    throw new Error('malformed note: a signature is not standard base64');
  }
  if (blob.length < 5) throw new Error('malformed note: a signature is too short');
  return { name, hash: blob.subarray(0, 4), signature: blob.subarray(4) };
}

/**
 * Opens a signed note: returns its text and the names of the given keys whose signature verified.
 * Throws when the note is malformed, when a signature by a given key does not verify, or when no given
 * key signed it. Signatures by unknown keys are ignored (a note may carry cosignatures).
 */
export function openNote(note: string, keys: NoteVerifierKey[]): { body: string; signedBy: string[] } {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new Error('malformed note: no blank line before the signatures');
  const body = note.slice(0, split + 1);
  checkText(body);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new Error(`malformed note: more than ${MAX_SIGNATURES} signatures`);
  const message = utf8Encode(body);
  const signedBy: string[] = [];
  for (const sig of lines.map(parseSignatureLine)) {
    const matching = keys.filter((k) => k.name === sig.name && equalBytes(keyHash(k.name, k.publicKey), sig.hash));
    if (matching.length === 0) continue;
    // RFC 8032 verification (no ZIP-215 leniency), as Go's crypto/ed25519.
    const valid = sig.signature.length === 64 && ed25519.verify(sig.signature, message, matching[0]!.publicKey, { zip215: false });
    if (!valid) throw new Error(`invalid signature for key ${sig.name}+${hex(sig.hash)}`);
    if (!signedBy.includes(sig.name)) signedBy.push(sig.name);
  }
  if (signedBy.length === 0) throw new Error('note has no signature by a known key');
  return { body, signedBy };
}

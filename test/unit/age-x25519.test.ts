/**
 * age's X25519 recipient and identity on Node's OpenSSL (owner/age-x25519.ts) against the reference
 * implementations, both ways: Debian's `age` and the age-encryption package open what it seals, and
 * it opens what they seal; it refuses what age refuses.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decrypter, Encrypter, Stanza, identityToRecipient } from 'age-encryption';
import { afterAll, describe, expect, it } from 'vitest';
import { seal, unseal } from '../../agent/envelope/index.js';
import { X25519Identity, X25519Recipient, x25519Recipient } from '../../agent/owner/age-x25519.js';
import { newAgeIdentity } from '../helpers/protocol.js';

const dir = mkdtempSync(join(tmpdir(), 'age-x25519-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const message = new TextEncoder().encode('doorbell-msg/v2 0123456789abcdef sig\n{"v":2,"kind":"status"}');
const alice = newAgeIdentity();
const bob = newAgeIdentity();

function ageCliOpens(ciphertext: Uint8Array, identity: string): Buffer {
  const identityFile = join(dir, 'identity.txt');
  const sealed = join(dir, 'sealed.age');
  writeFileSync(identityFile, `${identity}\n`, { mode: 0o600 });
  writeFileSync(sealed, ciphertext);
  return execFileSync('age', ['--decrypt', '-i', identityFile, sealed]);
}

/** The X25519 stanza's share and body from an age file's text header. */
function headerStanza(ciphertext: Uint8Array): { share: string; body: Buffer } {
  const lines = Buffer.from(ciphertext).toString('latin1').split('\n');
  const at = lines.findIndex((l) => l.startsWith('-> X25519 '));
  return { share: lines[at]!.slice('-> X25519 '.length), body: Buffer.from(lines[at + 1]!, 'base64') };
}

describe('age X25519 on OpenSSL', () => {
  it('seals what the age CLI and age-encryption open', async () => {
    const sealed = await seal(message, [new X25519Recipient(alice.recipient)]);
    expect(new Uint8Array(ageCliOpens(sealed, alice.identity))).toEqual(message);
    const d = new Decrypter();
    d.addIdentity(alice.identity);
    expect(await d.decrypt(sealed)).toEqual(message);
    // A fresh ephemeral key each time: two seals of the same message share no stanza.
    const again = await seal(message, [new X25519Recipient(alice.recipient)]);
    expect(headerStanza(again).share).not.toBe(headerStanza(sealed).share);
  });

  it('opens what the age CLI and age-encryption seal', async () => {
    const plain = join(dir, 'plain.txt');
    writeFileSync(plain, message);
    const fromCli = execFileSync('age', ['--encrypt', '-r', alice.recipient, plain]);
    expect(await unseal(fromCli, [new X25519Identity(alice.identity)])).toEqual(message);
    const e = new Encrypter();
    e.addRecipient(alice.recipient);
    expect(await unseal(await e.encrypt(message), [new X25519Identity(alice.identity)])).toEqual(message);
  });

  it('derives the same recipient from an identity as age does', async () => {
    // Sealed to the recipient age-encryption derives: opening needs the same public key in the HKDF salt.
    const derived = await identityToRecipient(alice.identity);
    expect(derived).toBe(alice.recipient);
    expect(new X25519Identity(alice.identity).recipient).toBe(alice.recipient);
    const sealed = await seal(message, [derived]);
    expect(await unseal(sealed, [new X25519Identity(alice.identity)])).toEqual(message);
  });

  it('opens its own stanza among several, and refuses a file sealed only to someone else', async () => {
    const both = await seal(message, [x25519Recipient(bob.recipient), x25519Recipient(alice.recipient)]);
    expect(await unseal(both, [new X25519Identity(alice.identity)])).toEqual(message);
    expect(await unseal(both, [new X25519Identity(bob.identity)])).toEqual(message);
    const forBob = await seal(message, [x25519Recipient(bob.recipient)]);
    await expect(unseal(forBob, [new X25519Identity(alice.identity)])).rejects.toThrow(/no identity matched/);
  });

  it('refuses a changed wrapped key, a share of the wrong length and a low-order share', () => {
    const identity = new X25519Identity(alice.identity);
    const [stanza] = new X25519Recipient(alice.recipient).wrapFileKey(new Uint8Array(16).fill(7));
    expect(Buffer.from(identity.unwrapFileKey([stanza!])!)).toEqual(Buffer.alloc(16, 7));
    const flipped = Uint8Array.from(stanza!.body);
    flipped[3]! ^= 1;
    expect(identity.unwrapFileKey([new Stanza(stanza!.args, flipped)])).toBeNull();
    expect(() => identity.unwrapFileKey([new Stanza(['X25519', 'AAAA'], stanza!.body)])).toThrow(/invalid X25519 stanza/);
    expect(() => identity.unwrapFileKey([new Stanza(['X25519', stanza!.args[1]!, 'extra'], stanza!.body)])).toThrow(/invalid X25519 stanza/);
    expect(() => identity.unwrapFileKey([new Stanza(stanza!.args, stanza!.body.subarray(0, 31))])).toThrow(/invalid stanza/);
    // The all-zero point gives an all-zero secret whatever the scalar: age must refuse it.
    expect(() => identity.unwrapFileKey([new Stanza(['X25519', 'A'.repeat(43)], stanza!.body)])).toThrow();
  });

  it('refuses what is not an age X25519 key', () => {
    expect(() => new X25519Recipient('age1notarecipient')).toThrow(/not an age X25519 recipient/);
    expect(() => new X25519Identity(alice.recipient)).toThrow(/not an age X25519 identity/);
    expect(() => new X25519Identity('AGE-SECRET-KEY-1QQQQ')).toThrow();
  });
});

/**
 * Sealing with the age format (age-encryption.org/v1) through the maintained `age-encryption`
 * package: X25519 recipients (`age1…`), binary (not armored) output, one file per message. Debian's
 * `age` CLI decrypts it with the recipient's `AGE-SECRET-KEY-1…` identity.
 */
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient, type Recipient } from 'age-encryption';

/** An age identity: the `AGE-SECRET-KEY-1…` string, a non-extractable X25519 CryptoKey, or a custom identity. */
export type AgeIdentity = Parameters<Decrypter['addIdentity']>[0];

/** An age X25519 recipient: the `age1…` string, or an implementation of it (owner/age-x25519.ts on Node). */
export type AgeRecipient = string | Recipient;

const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

export function isAgeRecipient(text: unknown): text is string {
  return typeof text === 'string' && RECIPIENT.test(text);
}

export async function seal(plaintext: Uint8Array, recipients: readonly AgeRecipient[]): Promise<Uint8Array> {
  if (recipients.length === 0) throw new TypeError('sealing needs at least one recipient');
  const e = new Encrypter();
  for (const r of recipients) {
    if (typeof r === 'string' && !isAgeRecipient(r)) throw new TypeError(`not an age X25519 recipient: ${String(r).slice(0, 20)}`);
    e.addRecipient(r);
  }
  return e.encrypt(plaintext);
}

/** Throws when no identity given can open it (the file is for someone else, or not age at all). */
export async function unseal(ciphertext: Uint8Array, identities: readonly AgeIdentity[]): Promise<Uint8Array> {
  const d = new Decrypter();
  for (const id of identities) d.addIdentity(id);
  return d.decrypt(ciphertext);
}

export async function newSealingIdentity(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

export async function recipientOf(identity: string): Promise<string> {
  return identityToRecipient(identity);
}

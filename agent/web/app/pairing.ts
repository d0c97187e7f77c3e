/** The pairing offer (PROTOCOL.md "Owner enrollment"): the phone proves it saw the doorbell's code. */
import { hmacSha256 } from './digest.js';
import { b64urlEncode, hex, utf8, type Bytes } from './encoding.js';

/** A wrong code is refused silently by the device, so silence this long is the refusal. */
export const PAIRING_TIMEOUT_MS = 10_000;

export interface PairingOffer {
  v: 1;
  name: string;
  publicKey: string;
  mac: string;
}

export function isPairingCode(code: string): boolean {
  return /^\d{6}$/.test(code);
}

/** `mac` = hex HMAC-SHA256 with the 6-digit code (ASCII) as key over the raw public-key bytes. */
export async function makePairingOffer(code: string, name: string, publicKeyRaw: Bytes): Promise<PairingOffer> {
  if (!isPairingCode(code)) throw new Error('the pairing code has 6 digits');
  const mac = await hmacSha256(utf8(code), publicKeyRaw);
  return { v: 1, name, publicKey: b64urlEncode(publicKeyRaw), mac: hex(mac) };
}

/** The device's rule: 1 to 64 printable characters, not only spaces. */
export function isValidOwnerName(name: string): boolean {
  return /^[^\p{C}\p{Zl}\p{Zp}]{1,64}$/u.test(name) && name.trim().length > 0;
}

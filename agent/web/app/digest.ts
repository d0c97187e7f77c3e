/**
 * SHA-256 and HMAC-SHA-256 through WebCrypto where the page has it, else through @noble/hashes:
 * browsers give `crypto.subtle` only to secure contexts (HTTPS or localhost), and an owner may open
 * the app at http://192.168.1.20:8080. `crypto.getRandomValues` exists on every page.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as softwareSha256 } from '@noble/hashes/sha2.js';
import type { Bytes } from './encoding.js';

/** False on a page served over plain http from another machine. */
export function hasWebCrypto(): boolean {
  return typeof crypto !== 'undefined' && crypto.subtle !== undefined;
}

export async function sha256(bytes: Bytes): Promise<Bytes> {
  if (!hasWebCrypto()) return softwareSha256(bytes);
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

export async function hmacSha256(key: Bytes, message: Bytes): Promise<Bytes> {
  if (!hasWebCrypto()) return hmac(softwareSha256, key, message);
  const imported = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', imported, message));
}

/**
 * The owner's short-lived permission to watch one clip or the latest snapshot over the agent's web
 * port (protocol.md "Watching before sharing"). Isomorphic: the phone app signs with the same bytes
 * the agent verifies.
 *
 * Token: `<keyId>.<expires>.<sig>`, `expires` Unix seconds, `sig` base64url Ed25519 over
 * `doorbell-media/v2` ‖ 0x00 ‖ device id ‖ 0x00 ‖ resource ‖ 0x00 ‖ expires, resource `clip/{clipId}`, `snapshot` or `events`.
 */
import { b64url, concat, utf8, type Signer } from '../envelope/index.js';

export const MEDIA_TAG = 'doorbell-media/v2';
/** A token may live at most this long: long enough to start watching, too short to be worth stealing. */
export const MAX_MEDIA_TOKEN_SECONDS = 300;
export const MEDIA_AUTH_SCHEME = 'DoorbellOwner';

export type MediaResource = `clip/${string}` | 'snapshot' | 'events';

export function mediaTokenBytes(device: string, resource: MediaResource, expires: number): Uint8Array {
  const zero = new Uint8Array([0]);
  return concat(utf8(MEDIA_TAG), zero, utf8(device), zero, utf8(resource), zero, utf8(String(expires)));
}

export async function makeMediaToken(signer: Signer, device: string, resource: MediaResource, nowMs: number, lifetimeSeconds = 120): Promise<string> {
  const expires = Math.floor(nowMs / 1000) + Math.min(lifetimeSeconds, MAX_MEDIA_TOKEN_SECONDS);
  const sig = await signer.sign(mediaTokenBytes(device, resource, expires));
  return `${signer.keyId}.${expires}.${b64url(sig)}`;
}

export interface ParsedMediaToken {
  keyId: string;
  expires: number;
  sig: string;
}

export function parseMediaToken(token: string): ParsedMediaToken | undefined {
  const m = /^([0-9a-f]{16})\.(\d{1,12})\.([A-Za-z0-9_-]{86})$/.exec(token);
  return m ? { keyId: m[1]!, expires: Number(m[2]), sig: m[3]! } : undefined;
}

/**
 * The owner's push subscription as it travels to the device (protocol.md "Push subscription"):
 * kind `push-subscription` on `P/D/owner/in`, signed by the owner key and sealed to the device.
 * Isomorphic (no `node:` imports): the phone app builds it with the same checks the device applies.
 */
import { fromB64url } from '../envelope/index.js';

export const PUSH_KINDS = ['ring', 'motion', 'request', 'upload'] as const;
export type PushKind = (typeof PUSH_KINDS)[number];

export interface PushSubscriptionKeys {
  endpoint: string;
  /** The browser's P-256 key (65 bytes, uncompressed), base64url: RFC 8291 `ua_public`. */
  p256dh: string;
  /** The browser's 16-byte authentication secret, base64url. */
  auth: string;
}

export interface PushSubscriptionBody {
  v: 2;
  kind: 'push-subscription';
  at: string;
  device: string;
  /** null: this owner key wants no more notifications. */
  subscription: PushSubscriptionKeys | null;
  kinds: PushKind[];
  /** Whether a request's notification may name the requester and the reason. */
  details: boolean;
}

export class PushSubscriptionError extends Error {
  override name = 'PushSubscriptionError';
}

const MAX_ENDPOINT_LENGTH = 2048;

function fail(what: string): never {
  throw new PushSubscriptionError(`${what} is missing or invalid`);
}

/** An https URL without user-info: where a push service accepts messages for one browser. */
export function isPushEndpoint(endpoint: unknown): endpoint is string {
  if (typeof endpoint !== 'string' || endpoint.length > MAX_ENDPOINT_LENGTH) return false;
  try {
    const url = new URL(endpoint);
    return url.protocol === 'https:' && !url.username && !url.password && url.hostname !== '';
  } catch {
    // Not a URL at all.
    return false;
  }
}

export function parsePushSubscription(json: Record<string, unknown>): PushSubscriptionBody {
  if (json.kind !== 'push-subscription') fail('kind');
  if (typeof json.device !== 'string' || json.device === '') fail('device');
  if (!Array.isArray(json.kinds) || !json.kinds.every((k) => (PUSH_KINDS as readonly unknown[]).includes(k))) fail('kinds');
  if (new Set(json.kinds).size !== json.kinds.length) fail('kinds');
  if (typeof json.details !== 'boolean') fail('details');
  let subscription: PushSubscriptionKeys | null = null;
  if (json.subscription !== null) {
    const s = json.subscription as Record<string, unknown> | undefined;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) fail('subscription');
    if (!isPushEndpoint(s.endpoint)) fail('subscription.endpoint');
    const p256dh = fromB64url(s.p256dh);
    if (!p256dh || p256dh.length !== 65 || p256dh[0] !== 0x04) fail('subscription.p256dh');
    const auth = fromB64url(s.auth);
    if (!auth || auth.length !== 16) fail('subscription.auth');
    subscription = { endpoint: s.endpoint, p256dh: s.p256dh as string, auth: s.auth as string };
  }
  return {
    v: 2,
    kind: 'push-subscription',
    at: json.at as string,
    device: json.device,
    subscription,
    kinds: json.kinds as PushKind[],
    details: json.details,
  };
}

/** Entries as the public reads them: the feed's JSON items and a requester's profile. */
import { iso, parseIso } from '../clock.js';
import { keyIdOf, parseB64url } from '../owner/index.js';
import { fingerprint, verifyEnvelope, VOUCH_DOMAIN, type Request } from '../requests/index.js';
import type { BoardLog, Entry } from './board-log.js';

export interface FeedItem {
  index: number;
  requestId: string;
  keyId: string;
  fingerprint: string;
  requester: Request['requester'];
  /** What a directory key signed about this requester key; the board does not judge the directory. */
  vouch: { directoryKeyId: string; label: string } | null;
  reason: string;
  window: Request['window'];
  area: Request['area'] | null;
  device: string | null;
  destinationHost: string;
  postedAt: string;
  expiresAt: string;
  withdrawn: { index: number; at: string } | null;
}

export function feedItem(log: BoardLog, e: Entry): FeedItem {
  const r = JSON.parse(e.envelope.payload) as Request;
  const w = log.withdrawn(e.requestId);
  let vouch: FeedItem['vouch'] = null;
  // Shown only when the directory's signature verifies and names this very key; whether to trust the directory is each owner's call.
  if (e.envelope.vouch && verifyEnvelope(VOUCH_DOMAIN, e.envelope.vouch)) {
    try {
      const v = JSON.parse(e.envelope.vouch.payload) as { label?: unknown; key?: unknown };
      const directoryKeyId = keyIdOfB64(e.envelope.vouch.key);
      if (typeof v.label === 'string' && v.key === e.envelope.key && directoryKeyId) vouch = { directoryKeyId, label: v.label };
    } catch {
      vouch = null; // a vouch that does not parse is shown as none
    }
  }
  return {
    index: e.index,
    requestId: e.requestId,
    keyId: e.keyId,
    fingerprint: fingerprint(e.keyId),
    requester: r.requester,
    vouch,
    reason: r.reason,
    window: r.window,
    area: r.area ?? null,
    device: r.area ? null : (r.to ?? null),
    destinationHost: hostOf(r.upload.url),
    postedAt: iso(e.receivedAt),
    expiresAt: r.expiresAt,
    withdrawn: w ? { index: w.index, at: iso(w.receivedAt) } : null,
  };
}

export interface Profile {
  keyId: string;
  fingerprint: string;
  names: string[];
  counts: { posted: number; withdrawn: number; open: number; expired: number };
  /** The board never learns which devices heard or shared: outcomes are reported by nobody. */
  outcomes: 'not reported';
  posts: FeedItem[];
}

export function profile(log: BoardLog, keyId: string, now: number): Profile {
  const posts = log.byKey(keyId).filter((e) => e.type === 'request').map((e) => feedItem(log, e));
  const withdrawn = posts.filter((p) => p.withdrawn).length;
  const expired = posts.filter((p) => !p.withdrawn && parseIso(p.expiresAt) <= now).length;
  return {
    keyId,
    fingerprint: fingerprint(keyId),
    names: [...new Set(posts.map((p) => p.requester.name))],
    counts: { posted: posts.length, withdrawn, open: posts.length - withdrawn - expired, expired },
    outcomes: 'not reported',
    posts,
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

function keyIdOfB64(key: string): string | undefined {
  const bytes = parseB64url(key);
  return bytes?.length === 32 ? keyIdOf(bytes) : undefined;
}

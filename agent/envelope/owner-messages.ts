/**
 * The bodies of the owner channel (protocol.md "Owner channel"): what the device tells its owners
 * and what owners tell the device. Checked parsers, so the phone app, the CLI and the agent accept
 * and refuse exactly the same messages.
 */
import type { Json } from './message.js';

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const NONCE = /^[A-Za-z0-9_-]{22,256}$/;

export const TERMINAL_STATES = ['rejected', 'no-footage', 'uploaded', 'failed', 'denied', 'expired', 'cancelled'] as const;
export const REQUEST_STATES = ['pending', 'approved', 'uploading', ...TERMINAL_STATES] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

export class MessageError extends Error {
  override name = 'MessageError';
}

const isTime = (v: unknown): v is string => typeof v === 'string' && Number.isFinite(Date.parse(v));
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isId = (v: unknown): v is string => typeof v === 'string' && ID_PATTERN.test(v);
export const isSha256 = (v: unknown): v is string => typeof v === 'string' && SHA256.test(v);

function need(ok: boolean, what: string): void {
  if (!ok) throw new MessageError(`${what} is missing or invalid`);
}

/** Where footage would go, shown in full (never the query string, which may hold a presigned secret). */
export interface Destination {
  scheme: string;
  host: string;
  path: string;
  urlSha256: string;
}

export interface NoticeClip {
  id: string;
  start: string;
  end: string;
  bytes: number;
  sha256: string;
  trigger: string;
  thumbnail?: string;
}

/** Who asks: the name is only what the requester claims; the key and who vouches for it are checked by the device. */
export interface NoticeRequester {
  name: string;
  kind: string;
  caseNumber?: string;
  contact?: string;
  /** The requester's signing key id and its fingerprint (grouped by four). */
  keyId?: string;
  fingerprint?: string;
  /** Who vouches for the key: the owner's own pin, or a directory the owner trusts. */
  vouchedBy?: { by: 'pinned'; label: string } | { by: 'directory'; directory: string; label: string };
  /** The request's index in the public request board's log, when it came with the board's proof. */
  boardIndex?: number;
}

export interface Notice {
  requestId: string;
  receivedAt: string;
  requester: NoticeRequester;
  reason: string;
  window: { from: string; to: string };
  destination: Destination;
  /** The topic the requester's receipt goes to after an upload; null when it asked for none. */
  receiptTo: string | null;
  clips: NoticeClip[];
  expiresAt: string;
}

export function parseNotice(json: Json): Notice {
  const { requestId, receivedAt, requester, reason, window, destination, receiptTo, clips, expiresAt } = json;
  need(json.kind === 'notice', 'kind');
  need(isId(requestId), 'requestId');
  need(isObject(requester) && isText(requester.name) && isText(requester.kind), 'requester');
  need(typeof reason === 'string', 'reason');
  need(isObject(window) && isTime(window.from) && isTime(window.to), 'window');
  need(
    isObject(destination) &&
      (destination.scheme === 'https' || destination.scheme === 'http') &&
      isText(destination.host) &&
      typeof destination.path === 'string' &&
      destination.path.startsWith('/') &&
      isSha256(destination.urlSha256),
    'destination',
  );
  need(receiptTo === null || isText(receiptTo), 'receiptTo');
  need(Array.isArray(clips), 'clips');
  need(isTime(expiresAt), 'expiresAt');
  const r = requester as Json;
  const d = destination as Json;
  return {
    requestId: requestId as string,
    receivedAt: isTime(receivedAt) ? receivedAt : '',
    requester: {
      name: r.name as string,
      kind: r.kind as string,
      ...(isText(r.caseNumber) ? { caseNumber: r.caseNumber } : {}),
      ...(isText(r.contact) ? { contact: r.contact } : {}),
      ...(typeof r.keyId === 'string' && /^[0-9a-f]{16}$/.test(r.keyId) ? { keyId: r.keyId } : {}),
      ...(isText(r.fingerprint) ? { fingerprint: r.fingerprint } : {}),
      ...(parseVouch(r.vouchedBy) ?? {}),
      ...(isCount(r.boardIndex) ? { boardIndex: r.boardIndex } : {}),
    },
    reason: reason as string,
    window: { from: (window as Json).from as string, to: (window as Json).to as string },
    destination: { scheme: d.scheme as string, host: d.host as string, path: d.path as string, urlSha256: d.urlSha256 as string },
    receiptTo: (receiptTo as string | null) ?? null,
    clips: (clips as unknown[]).map(parseClip),
    expiresAt: expiresAt as string,
  };
}

/**
 * What the device checked about who asks, in one line for the app and the CLI alike: the name is
 * only a claim, the key and whoever vouches for it are what the owner can trust.
 */
export function describeRequesterKey(r: NoticeRequester): string {
  if (!r.fingerprint) return 'signed by an unknown key';
  const who = !r.vouchedBy
    ? 'nobody you trust vouches for it'
    : r.vouchedBy.by === 'pinned'
      ? `pinned by you as “${r.vouchedBy.label}”`
      : `vouched for by ${r.vouchedBy.directory} as “${r.vouchedBy.label}”`;
  const board = r.boardIndex !== undefined ? `; posted publicly (board entry ${r.boardIndex})` : '; not on a public board';
  return `key ${r.fingerprint}: ${who}${board}`;
}

function parseVouch(v: unknown): { vouchedBy: NonNullable<NoticeRequester['vouchedBy']> } | undefined {
  if (!isObject(v) || !isText(v.label)) return undefined;
  if (v.by === 'pinned') return { vouchedBy: { by: 'pinned', label: v.label } };
  if (v.by === 'directory' && isText(v.directory)) return { vouchedBy: { by: 'directory', directory: v.directory, label: v.label } };
  return undefined;
}

function parseClip(clip: unknown, index: number): NoticeClip {
  need(isObject(clip), `clip ${index}`);
  const c = clip as Json;
  need(isId(c.id) && isTime(c.start) && isTime(c.end) && isCount(c.bytes) && isSha256(c.sha256), `clip ${index}`);
  // Only an inline JPEG may become an <img> source; anything else is dropped.
  const thumbnail = typeof c.thumbnail === 'string' && /^data:image\/jpeg;base64,[A-Za-z0-9+/=]+$/.test(c.thumbnail) ? c.thumbnail : undefined;
  return {
    id: c.id as string,
    start: c.start as string,
    end: c.end as string,
    bytes: c.bytes as number,
    sha256: c.sha256 as string,
    trigger: typeof c.trigger === 'string' ? c.trigger : '',
    ...(thumbnail ? { thumbnail } : {}),
  };
}

/** `https://evidence.example/put/abc`: what a person must see before approving. */
export function destinationText(d: Destination): string {
  return `${d.scheme}://${d.host}${d.path}`;
}

export interface RequestStatus {
  requestId: string;
  state: RequestState;
  at: string;
  detail?: string;
  progress?: { sentBytes: number; totalBytes: number };
}

export function parseStatus(json: Json): RequestStatus {
  const { requestId, state, at, detail, progress } = json;
  need(json.kind === 'status', 'kind');
  need(isId(requestId), 'requestId');
  need(typeof state === 'string' && (REQUEST_STATES as readonly string[]).includes(state), 'state');
  const p = isObject(progress) && isCount(progress.sentBytes) && isCount(progress.totalBytes) ? progress : undefined;
  return {
    requestId: requestId as string,
    state: state as RequestState,
    at: at as string,
    ...(typeof detail === 'string' ? { detail } : {}),
    ...(p ? { progress: { sentBytes: p.sentBytes as number, totalBytes: p.totalBytes as number } } : {}),
  };
}

export function isTerminal(state: RequestState): boolean {
  return (TERMINAL_STATES as readonly string[]).includes(state);
}

/** The device's answer to an owner's `ask`: every request waiting for a decision, by its notice's hash. */
export interface Pending {
  re: string;
  requests: { requestId: string; noticeSha256: string }[];
}

export function parsePending(json: Json): Pending {
  need(json.kind === 'pending', 'kind');
  need(typeof json.re === 'string' && NONCE.test(json.re), 're');
  need(Array.isArray(json.requests), 'requests');
  return {
    re: json.re as string,
    requests: (json.requests as unknown[]).map((r, i) => {
      need(isObject(r) && isId(r.requestId) && isSha256(r.noticeSha256), `request ${i}`);
      return { requestId: (r as Json).requestId as string, noticeSha256: (r as Json).noticeSha256 as string };
    }),
  };
}

export interface DoorbellEvent {
  type: 'ring' | 'motion';
  at: string;
  source: string;
  clipId?: string;
}

export function parseEvent(json: Json): DoorbellEvent {
  need(json.kind === 'event', 'kind');
  need(json.type === 'ring' || json.type === 'motion', 'type');
  return {
    type: json.type as 'ring' | 'motion',
    at: json.at as string,
    source: typeof json.source === 'string' ? json.source : '',
    ...(isId(json.clipId) ? { clipId: json.clipId } : {}),
  };
}

export interface EnrollmentNews {
  keyId: string;
  name: string;
  via: string;
  revoked: boolean;
}

export function parseEnrollment(json: Json): EnrollmentNews {
  need(json.kind === 'enrollment', 'kind');
  need(typeof json.keyId === 'string' && /^[0-9a-f]{16}$/.test(json.keyId), 'keyId');
  return {
    keyId: json.keyId as string,
    name: typeof json.name === 'string' ? json.name : '',
    via: typeof json.via === 'string' ? json.via : '',
    revoked: json.revoked === true,
  };
}

export interface Receipt {
  requestId: string;
  manifestSha256: string;
  clips: string[];
}

export function parseReceipt(json: Json): Receipt {
  need(json.kind === 'receipt', 'kind');
  need(isId(json.requestId) && isSha256(json.manifestSha256), 'receipt');
  need(Array.isArray(json.clips) && json.clips.every(isId), 'clips');
  return { requestId: json.requestId as string, manifestSha256: json.manifestSha256 as string, clips: json.clips as string[] };
}

/** Base64 of a JPEG inside a sealed snapshot message. */
export function parseSnapshot(json: Json): { jpegBase64: string } {
  need(json.kind === 'snapshot', 'kind');
  need(typeof json.jpeg === 'string' && /^[A-Za-z0-9+/=]+$/.test(json.jpeg), 'jpeg');
  return { jpegBase64: json.jpeg as string };
}

export interface DecisionClip {
  id: string;
  sha256: string;
}

/** An owner's decision, signed by the owner and sealed to the device. */
export interface DecisionBody extends Json {
  v: 2;
  kind: 'decision';
  at: string;
  device: string;
  requestId: string;
  /** `cancel` stops an approved upload that has not finished (no clips). */
  decision: 'approve' | 'deny' | 'cancel';
  clips: DecisionClip[];
  urlSha256: string;
  noticeSha256: string;
  expiresAt: string;
  nonce: string;
}

export const DECISION_LIFETIME_MS = 10 * 60_000;
export const MAX_DECISION_LIFETIME_MS = 60 * 60_000;
export const MIN_NONCE_BYTES = 16;

export function parseDecision(json: Json): DecisionBody {
  need(json.kind === 'decision', 'kind');
  need(isId(json.device) && isId(json.requestId), 'device and requestId');
  need(json.decision === 'approve' || json.decision === 'deny' || json.decision === 'cancel', 'decision');
  need(Array.isArray(json.clips) && json.clips.every((c) => isObject(c) && isId(c.id) && isSha256(c.sha256)), 'clips');
  need(isSha256(json.urlSha256) && isSha256(json.noticeSha256), 'urlSha256 and noticeSha256');
  need(isTime(json.expiresAt), 'expiresAt');
  need(typeof json.nonce === 'string' && /^[A-Za-z0-9_-]{1,256}$/.test(json.nonce), 'nonce');
  return {
    v: 2,
    kind: 'decision',
    at: json.at as string,
    device: json.device as string,
    requestId: json.requestId as string,
    decision: json.decision as 'approve' | 'deny' | 'cancel',
    clips: (json.clips as Json[]).map((c) => ({ id: c.id as string, sha256: c.sha256 as string })),
    urlSha256: json.urlSha256 as string,
    noticeSha256: json.noticeSha256 as string,
    expiresAt: json.expiresAt as string,
    nonce: json.nonce as string,
  };
}

/**
 * The decision for exactly what the owner was shown: the notice (by the hash of its sealed plaintext),
 * its destination, and the chosen clips of it (all of them when `clipIds` is undefined).
 */
export function makeDecision(opts: {
  device: string;
  notice: Notice;
  noticeSha256: string;
  decision: 'approve' | 'deny' | 'cancel';
  clipIds?: readonly string[];
  now: number;
  nonce: string;
  lifetimeMs?: number;
}): DecisionBody {
  const { notice } = opts;
  let clips: DecisionClip[] = [];
  if (opts.decision === 'approve') {
    const chosen = opts.clipIds ? notice.clips.filter((c) => opts.clipIds!.includes(c.id)) : notice.clips;
    const unknown = (opts.clipIds ?? []).filter((id) => !notice.clips.some((c) => c.id === id));
    if (unknown.length) throw new MessageError(`not in this request: ${unknown.join(', ')}`);
    if (chosen.length === 0) throw new MessageError('choose at least one clip to approve');
    clips = chosen.map((c) => ({ id: c.id, sha256: c.sha256 }));
  }
  return {
    v: 2,
    kind: 'decision',
    at: new Date(opts.now).toISOString(),
    device: opts.device,
    requestId: notice.requestId,
    decision: opts.decision,
    clips,
    urlSha256: notice.destination.urlSha256,
    noticeSha256: opts.noticeSha256,
    expiresAt: new Date(opts.now + (opts.lifetimeMs ?? DECISION_LIFETIME_MS)).toISOString(),
    nonce: opts.nonce,
  };
}

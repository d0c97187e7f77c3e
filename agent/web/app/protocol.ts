/** PROTOCOL.md as the phone sees it: topic names and checked parsers for what the doorbell sends. */

export const TERMINAL_STATES = ['rejected', 'no-footage', 'uploaded', 'failed', 'denied', 'expired'] as const;
export type RequestState = 'pending' | 'approved' | 'uploading' | (typeof TERMINAL_STATES)[number];

export interface NoticeClip {
  id: string;
  start: string;
  end: string;
  bytes: number;
  sha256: string;
  trigger: string;
  thumbnail?: string;
}

export interface Notice {
  requestId: string;
  receivedAt: string;
  requester: { name: string; kind: string; caseNumber?: string; contact?: string };
  reason: string;
  window: { from: string; to: string };
  destination: { host: string; urlSha256: string };
  clips: NoticeClip[];
  expiresAt: string;
}

export interface RequestStatus {
  requestId: string;
  state: RequestState;
  at: string;
  detail?: string;
  progress?: { sentBytes: number; totalBytes: number };
}

export interface DoorbellState {
  online: boolean;
  version?: string;
  startedAt?: string;
  camera?: { ok: boolean; source: string; since: string; detail?: string };
  storage?: { usedBytes: number; capBytes: number; clips: number; oldest?: string };
  requests?: { pending: string[] };
}

export interface DoorbellEvent {
  type: 'ring' | 'motion';
  at: string;
  source: string;
  clipId?: string;
}

export interface PairedAnnouncement {
  keyId: string;
  name: string;
  at: string;
  devicePublicKey: string;
  revoked: boolean;
}

export interface Topics {
  state: string;
  event: string;
  snapshot: string;
  inboxFilter: string;
  statusFilter: string;
  decision: string;
  pair: string;
  paired: string;
  transparency: string;
  auditAsk: string;
  auditProof: string;
  /** The request id of an inbox topic, or undefined. */
  inboxId(topic: string): string | undefined;
  /** The request id of a status topic, or undefined. */
  statusId(topic: string): string | undefined;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

export function topicsFor(prefix: string, device: string): Topics {
  const d = `${prefix}/${device}`;
  const idIn = (topic: string, head: string, tail: string): string | undefined => {
    if (!topic.startsWith(head) || !topic.endsWith(tail)) return undefined;
    const id = topic.slice(head.length, topic.length - tail.length);
    return isId(id) ? id : undefined;
  };
  return {
    state: `${d}/state`,
    event: `${d}/event`,
    snapshot: `${d}/snapshot`,
    inboxFilter: `${d}/owner/inbox/+`,
    statusFilter: `${d}/request/+/status`,
    decision: `${d}/owner/decision`,
    pair: `${d}/pair`,
    paired: `${d}/owner/paired`,
    transparency: `${d}/transparency`,
    auditAsk: `${d}/owner/audit/ask`,
    auditProof: `${d}/owner/audit/proof`,
    inboxId: (topic) => idIn(topic, `${d}/owner/inbox/`, ''),
    statusId: (topic) => idIn(topic, `${d}/request/`, '/status'),
  };
}

type Json = Record<string, unknown>;

/** Parses a JSON object carrying `"v": 1`; throws with a reason otherwise. */
export function parseMessage(text: string): Json {
  const json: unknown = JSON.parse(text);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
  if ((json as Json).v !== 1) throw new Error('not protocol version 1');
  return json as Json;
}

const isTime = (v: unknown): v is string => typeof v === 'string' && Number.isFinite(Date.parse(v));
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSha256 = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

function need(ok: boolean, what: string): void {
  if (!ok) throw new Error(`${what} is missing or invalid`);
}

export function parseNotice(json: Json): Notice {
  const { requestId, receivedAt, requester, reason, window, destination, clips, expiresAt } = json;
  need(isId(requestId), 'requestId');
  need(isObject(requester) && isText(requester.name) && isText(requester.kind), 'requester');
  need(isObject(window) && isTime(window.from) && isTime(window.to), 'window');
  need(isObject(destination) && isText(destination.host) && isSha256(destination.urlSha256), 'destination');
  need(Array.isArray(clips), 'clips');
  need(isTime(expiresAt), 'expiresAt');
  const r = requester as Json;
  const w = window as Json;
  const dest = destination as Json;
  return {
    requestId: requestId as string,
    receivedAt: isTime(receivedAt) ? receivedAt : '',
    requester: {
      name: r.name as string,
      kind: r.kind as string,
      ...(isText(r.caseNumber) ? { caseNumber: r.caseNumber } : {}),
      ...(isText(r.contact) ? { contact: r.contact } : {}),
    },
    reason: typeof reason === 'string' ? reason : '',
    window: { from: w.from as string, to: w.to as string },
    destination: { host: dest.host as string, urlSha256: dest.urlSha256 as string },
    clips: (clips as unknown[]).map(parseClip),
    expiresAt: expiresAt as string,
  };
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

const STATES: readonly string[] = ['pending', 'approved', 'uploading', ...TERMINAL_STATES];

export function parseStatus(json: Json): RequestStatus {
  const { requestId, state, at, detail, progress } = json;
  need(isId(requestId), 'requestId');
  need(typeof state === 'string' && STATES.includes(state), 'state');
  need(isTime(at), 'at');
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

/** A status the device published to say it refused the owner's decision. */
export function isRefusal(status: RequestStatus): boolean {
  return status.detail?.startsWith('decision refused:') ?? false;
}

export function parseState(json: Json): DoorbellState {
  need(typeof json.online === 'boolean', 'online');
  const state: DoorbellState = { online: json.online as boolean };
  if (typeof json.version === 'string') state.version = json.version;
  if (isTime(json.startedAt)) state.startedAt = json.startedAt;
  const { camera, storage, requests } = json;
  if (isObject(camera) && typeof camera.ok === 'boolean') {
    state.camera = {
      ok: camera.ok,
      source: typeof camera.source === 'string' ? camera.source : '',
      since: isTime(camera.since) ? camera.since : '',
      ...(typeof camera.detail === 'string' ? { detail: camera.detail } : {}),
    };
  }
  if (isObject(storage) && isCount(storage.usedBytes) && isCount(storage.capBytes)) {
    state.storage = {
      usedBytes: storage.usedBytes,
      capBytes: storage.capBytes,
      clips: isCount(storage.clips) ? storage.clips : 0,
      ...(isTime(storage.oldest) ? { oldest: storage.oldest } : {}),
    };
  }
  if (isObject(requests) && Array.isArray(requests.pending)) state.requests = { pending: requests.pending.filter(isId) };
  return state;
}

export function parseEvent(json: Json): DoorbellEvent {
  need(json.type === 'ring' || json.type === 'motion', 'type');
  need(isTime(json.at), 'at');
  return {
    type: json.type as 'ring' | 'motion',
    at: json.at as string,
    source: typeof json.source === 'string' ? json.source : '',
    ...(isId(json.clipId) ? { clipId: json.clipId } : {}),
  };
}

export function parsePaired(json: Json): PairedAnnouncement {
  need(typeof json.keyId === 'string' && /^[0-9a-f]{16}$/.test(json.keyId), 'keyId');
  need(typeof json.devicePublicKey === 'string', 'devicePublicKey');
  return {
    keyId: json.keyId as string,
    name: typeof json.name === 'string' ? json.name : '',
    at: isTime(json.at) ? json.at : '',
    devicePublicKey: json.devicePublicKey as string,
    revoked: json.revoked === true,
  };
}

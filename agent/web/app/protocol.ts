/** PROTOCOL.md as the phone sees it: topic names and checked parsers for what the doorbell sends. */

export {
  isTerminal,
  TERMINAL_STATES,
  type DoorbellEvent,
  type Notice,
  type NoticeClip,
  type RequestState,
  type RequestStatus,
} from '../../envelope/index.js';
import { decisionRefusal, ownerTopics, type RequestStatus } from '../../envelope/index.js';

export interface DoorbellState {
  online: boolean;
  version?: string;
  startedAt?: string;
  camera?: { ok: boolean; source: string; since: string; detail?: string };
  storage?: { usedBytes: number; capBytes: number; clips: number; oldest?: string };
}

export interface PairedAnnouncement {
  keyId: string;
  name: string;
  at: string;
  devicePublicKey: string;
  deviceSealingRecipient?: string;
  revoked: boolean;
}

export interface Topics {
  state: string;
  /** Sealed, device → owners (events, notices, statuses, answers, enrollments, receipts). */
  out: string;
  /** Sealed, retained: the latest snapshot. */
  snapshot: string;
  /** Sealed to the device: asks and decisions. */
  in: string;
  pair: string;
  transparency: string;
  auditAsk: string;
  auditProof: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

export function topicsFor(prefix: string, device: string): Topics {
  const d = `${prefix}/${device}`;
  const owner = ownerTopics(prefix, device);
  return {
    state: `${d}/state`,
    out: owner.out,
    snapshot: owner.snapshot,
    in: owner.in,
    pair: `${d}/pair`,
    transparency: `${d}/transparency`,
    auditAsk: `${d}/owner/audit/ask`,
    auditProof: `${d}/owner/audit/proof`,
  };
}

type Json = Record<string, unknown>;

/** Parses a public (plaintext) JSON object of protocol version 1 or 2; throws with a reason otherwise. */
export function parseMessage(text: string): Json {
  const json: unknown = JSON.parse(text);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
  if ((json as Json).v !== 1 && (json as Json).v !== 2) throw new Error('not protocol version 1 or 2');
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

/** A status the device published to say it refused the owner's decision. */
export function isRefusal(status: RequestStatus): boolean {
  return decisionRefusal(status) !== undefined;
}

export function parseState(json: Json): DoorbellState {
  need(typeof json.online === 'boolean', 'online');
  const state: DoorbellState = { online: json.online as boolean };
  if (typeof json.version === 'string') state.version = json.version;
  if (isTime(json.startedAt)) state.startedAt = json.startedAt;
  const { camera, storage } = json;
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
  return state;
}

export function parsePaired(json: Json): PairedAnnouncement {
  need(typeof json.keyId === 'string' && /^[0-9a-f]{16}$/.test(json.keyId), 'keyId');
  need(typeof json.devicePublicKey === 'string', 'devicePublicKey');
  return {
    keyId: json.keyId as string,
    name: typeof json.name === 'string' ? json.name : '',
    at: isTime(json.at) ? json.at : '',
    devicePublicKey: json.devicePublicKey as string,
    ...(typeof json.deviceSealingRecipient === 'string' ? { deviceSealingRecipient: json.deviceSealingRecipient } : {}),
    revoked: json.revoked === true,
  };
}

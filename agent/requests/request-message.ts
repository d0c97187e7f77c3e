/**
 * The message on a request topic (docs/protocol.md "Request"): the requester's signed envelope, an
 * optional vouch from a directory key, and, when it came through a request board, the board's proof.
 */
import * as z from '../zod.js';
import { iso, parseIso } from '../clock.js';
import { fingerprint, REQUEST_DOMAIN, verifyEnvelope, VOUCH_DOMAIN, type SignedEnvelope } from './requester-key.js';

/** The request payload is at most 64 KiB; the board's proof and a vouch fit in the rest. */
export const MAX_REQUEST_MESSAGE_BYTES = 128 * 1024;
const MAX_PROOF_HASHES = 64;

const envelope = z.object({ key: z.string().check(z.maxLength(64)), payload: z.string(), sig: z.string().check(z.maxLength(128)) });
export const boardProofSchema = z.object({
  index: z.number().check(z.int(), z.gte(0)),
  checkpoint: z.string().check(z.maxLength(4096)),
  inclusion: z.array(z.string().check(z.maxLength(64))).check(z.maxLength(MAX_PROOF_HASHES)),
});
const messageSchema = z.extend(envelope, {
  v: z.literal(2),
  vouch: z.optional(envelope),
  board: z.optional(boardProofSchema),
});

export type BoardProof = z.output<typeof boardProofSchema>;
export type RequestMessage = z.output<typeof messageSchema>;

export type OpenedMessage =
  | { ok: true; message: RequestMessage; keyId: string }
  | { ok: false; reason: string; detail: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Checks the envelope and its signature; the payload's own rules are validateRequest's. */
export function openRequestMessage(raw: Uint8Array): OpenedMessage {
  if (raw.length > MAX_REQUEST_MESSAGE_BYTES) return { ok: false, reason: 'too-large', detail: `message is over ${MAX_REQUEST_MESSAGE_BYTES} bytes` };
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return { ok: false, reason: 'not-utf8', detail: 'message is not valid UTF-8' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: 'not-json', detail: `message is not JSON: ${(err as Error).message}` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, reason: 'not-object', detail: 'message is not a JSON object' };
  if ((json as { v?: unknown }).v !== 2) {
    return { ok: false, reason: 'unsigned', detail: 'a request must be a version 2 envelope signed by a requester key' };
  }
  const parsed = messageSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: 'bad-envelope', detail: parsed.error.issues[0]?.message ?? 'bad envelope' };
  const keyId = verifyEnvelope(REQUEST_DOMAIN, parsed.data);
  if (!keyId) return { ok: false, reason: 'bad-signature', detail: 'the signature does not verify with the envelope key' };
  return { ok: true, message: parsed.data, keyId };
}

/** The bytes a request board logs for a request or withdrawal (docs/protocol.md "Request board"). */
export function boardEntryBytes(type: 'request' | 'withdrawal', env: SignedEnvelope): Uint8Array {
  return new TextEncoder().encode(`doorbell board entry v2\n${type}\n${env.key}\n${env.sig}\n${env.payload}`);
}

export interface PinnedRequester {
  key: string;
  label: string;
}

export interface RequesterPolicy {
  unknown: 'allow' | 'deny';
  pinned: PinnedRequester[];
  directories: PinnedRequester[];
}

export interface RequesterTrust {
  keyId: string;
  fingerprint: string;
  /** Who vouches, as the owner will read it; absent for an unknown key. */
  vouchedBy?: { by: 'pinned'; label: string } | { by: 'directory'; directory: string; label: string };
  trusted: boolean;
  pinned: boolean;
}

const vouchPayload = z.object({
  v: z.literal(2),
  key: z.string(),
  label: z.string().check(z.minLength(1), z.maxLength(120)),
  expiresAt: z.string(),
});

/** What the owner's policy says about this key; a vouch counts only from a directory key the owner trusts. */
export function requesterTrust(keyId: string, message: RequestMessage, policy: RequesterPolicy, now: number): RequesterTrust {
  const base = { keyId, fingerprint: fingerprint(keyId) };
  const pin = policy.pinned.find((p) => p.key === message.key);
  if (pin) return { ...base, vouchedBy: { by: 'pinned', label: pin.label }, trusted: true, pinned: true };
  if (message.vouch) {
    const directory = policy.directories.find((d) => d.key === message.vouch!.key);
    if (directory && verifyEnvelope(VOUCH_DOMAIN, message.vouch)) {
      const vouch = parseVouch(message.vouch.payload);
      if (vouch && vouch.key === message.key && parseIso(vouch.expiresAt) > now) {
        return { ...base, vouchedBy: { by: 'directory', directory: directory.label, label: vouch.label }, trusted: true, pinned: false };
      }
    }
  }
  return { ...base, trusted: false, pinned: false };
}

function parseVouch(text: string): z.output<typeof vouchPayload> | undefined {
  try {
    const parsed = vouchPayload.safeParse(JSON.parse(text));
    return parsed.success && Number.isFinite(parseIso(parsed.data.expiresAt)) ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** A directory's statement that `requesterKey` belongs to `label`, valid until `expiresAt`. */
export function vouchPayloadText(requesterKey: string, label: string, expiresAt: number): string {
  return JSON.stringify({ v: 2, key: requesterKey, label, expiresAt: iso(expiresAt) });
}

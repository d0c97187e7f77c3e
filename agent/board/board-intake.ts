/**
 * What the board accepts: a requester-signed request or withdrawal. The board checks what anyone can
 * check (signature, payload shape, id namespace, replyTo, times, where to relay it); each device
 * still applies every rule of its own owner.
 */
import * as z from '../zod.js';
import { parseIso } from '../clock.js';
import {
  encodeGeohash,
  idBelongsTo,
  MAX_REQUEST_MESSAGE_BYTES,
  openRequestMessage,
  replyToProblem,
  requestSchema,
  verifyEnvelope,
  WITHDRAWAL_DOMAIN,
  type Request,
  type SignedEnvelope,
} from '../requests/index.js';

export class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface AcceptedRequest {
  keyId: string;
  request: Request;
  envelope: SignedEnvelope & { vouch?: SignedEnvelope };
  topic: string;
}

const TOPIC_BASE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export function acceptRequest(body: Buffer, prefix: string, now: number): AcceptedRequest {
  if (body.length > MAX_REQUEST_MESSAGE_BYTES) throw new Refused(413, `a request message is at most ${MAX_REQUEST_MESSAGE_BYTES} bytes`);
  const opened = openRequestMessage(body);
  if (!opened.ok) throw new Refused(400, `${opened.reason}: ${opened.detail}`);
  const { message, keyId } = opened;
  if (message.board) throw new Refused(400, 'a request posted to the board carries no board proof');
  let json: unknown;
  try {
    json = JSON.parse(message.payload);
  } catch {
    throw new Refused(400, 'the payload is not JSON');
  }
  const parsed = requestSchema.safeParse(json);
  if (!parsed.success) throw new Refused(400, `schema: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const request = parsed.data;
  if (!idBelongsTo(request.id, keyId)) throw new Refused(400, `id must start with "${keyId}."`);
  if (request.replyTo !== undefined) {
    const problem = replyToProblem(request.replyTo, keyId);
    if (problem) throw new Refused(400, problem);
  }
  if (parseIso(request.expiresAt) <= now) throw new Refused(400, 'expiresAt is in the past');
  let topic: string;
  if (request.area) topic = `${prefix}/area/${encodeGeohash(request.area.lat, request.area.lon, 5)}/request`;
  else if (request.to && TOPIC_BASE.test(request.to)) topic = `${request.to}/request`;
  else throw new Refused(400, 'a request names an area, or a device in "to"');
  const { v: _v, board: _board, ...envelope } = message;
  return { keyId, request, envelope, topic };
}

const withdrawalSchema = z.object({ v: z.literal(2), id: z.string(), at: z.string() });

export function acceptWithdrawal(body: Buffer): { keyId: string; requestId: string; envelope: SignedEnvelope } {
  let json: { key?: unknown; payload?: unknown; sig?: unknown };
  try {
    json = JSON.parse(body.toString('utf8')) as typeof json;
  } catch {
    throw new Refused(400, 'not JSON');
  }
  const keyId = verifyEnvelope(WITHDRAWAL_DOMAIN, json);
  if (!keyId) throw new Refused(400, 'bad-signature: the withdrawal is not signed by its key');
  const parsed = withdrawalSchema.safeParse(JSON.parse(json.payload as string));
  if (!parsed.success) throw new Refused(400, 'the withdrawal payload is {"v":2,"id","at"}');
  return { keyId, requestId: parsed.data.id, envelope: { key: json.key as string, payload: json.payload as string, sig: json.sig as string } };
}

/**
 * The Request payload (docs/protocol.md "Request") and every rule that makes one invalid. Cheap checks
 * run first; the DNS lookup of the upload host runs last, so a flood of bad requests costs no lookups.
 */
import { sha256Hex } from '../owner/index.js';
import * as z from '../zod.js';
import { iso, parseIso } from '../clock.js';
import { ID_PATTERN } from '../ids.js';
import {
  checkDestination,
  checkDestinationUrl,
  DestinationError,
  type CheckedDestination,
  type DestinationOptions,
  type LookupFn,
} from './destination.js';
import { distanceMeters, type LatLon } from './geohash.js';
import { idBelongsTo, replyToProblem } from './requester-key.js';

export const MAX_REQUEST_BYTES = 64 * 1024;
export const MAX_AREA_RADIUS_M = 2000;
const MAX_EXPIRY_AHEAD_MS = 30 * 24 * 3600 * 1000;

/** RFC 3339 UTC with milliseconds, exactly as `iso()` writes it (so "Feb 30" is refused, not rolled over). */
const timestamp = z.string().check(z.refine((s) => {
  const ms = parseIso(s);
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(s) && Number.isFinite(ms) && iso(ms) === s;
}, 'expected an RFC 3339 UTC time with milliseconds, e.g. 2026-11-22T14:05:00.000Z'));

export const requesterKinds = ['police', 'fire', 'neighbor', 'insurer', 'owner', 'other'] as const;
export type RequesterKind = (typeof requesterKinds)[number];

export const areaSchema = z.object({
  lat: z.number().check(z.gte(-90), z.lte(90)),
  lon: z.number().check(z.gte(-180), z.lte(180)),
  radiusM: z.number().check(z.positive()),
});

export const requestSchema = z.object({
  v: z.literal(2),
  id: z.string().check(z.regex(ID_PATTERN, 'expected an identifier')),
  requester: z.object({
    name: z.string().check(z.minLength(1)),
    kind: z.enum(requesterKinds),
    contact: z.optional(z.string()),
    caseNumber: z.optional(z.string().check(z.minLength(1))),
  }),
  reason: z.string(),
  window: z.object({ from: timestamp, to: timestamp }),
  area: z.optional(areaSchema),
  upload: z.object({ url: z.string().check(z.minLength(1)), expiresAt: timestamp }),
  // The device publishes the signed receipt here; only topics under requesters/{keyId} (replyToProblem).
  replyTo: z.optional(z.string()),
  // A direct request names the device it is for ("{prefix}/{deviceId}"), so it cannot be replayed to another.
  to: z.optional(z.string().check(z.regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'expected a device topic base such as doorbell/frontdoor'))),
  expiresAt: timestamp,
});

export type Request = z.output<typeof requestSchema>;

/** `policy.deny` of the owner: it can only refuse, never approve. */
export interface RequestPolicy {
  all: boolean;
  kinds: string[];
  withoutCaseNumber: boolean;
}

export interface RequestLimits {
  maxWindowHours: number;
  maxPendingPerRequester: number;
  maxPending: number;
  maxPendingUnknown: number;
  allowInsecureUploads: boolean;
  allowPrivateDestinations: boolean;
}

export interface ValidationContext {
  now: number;
  topic: 'direct' | 'area';
  deviceLocation?: LatLon;
  limits: RequestLimits;
  policy: RequestPolicy;
  /** The keyId that signed the request: its id namespace, its replyTo and its limits. */
  keyId: string;
  /** Pinned by the owner or vouched for by a trusted directory. */
  trusted: boolean;
  /** `{prefix}/{deviceId}`: a request naming another device in `to` is refused. */
  deviceBase: string;
  pendingFor(keyId: string): number;
  pendingUnknown(): number;
  pendingTotal(): number;
  lookup?: LookupFn;
}

export type ValidationResult =
  | { ok: true; request: Request; urlSha256: string; destination: CheckedDestination }
  | { ok: false; reason: string; detail: string; requestId?: string; requesterName?: string };

type Refusal = { reason: string; detail: string };


function parseJsonObject(raw: Buffer): Refusal | { value: Record<string, unknown> } {
  if (raw.length > MAX_REQUEST_BYTES) {
    return { reason: 'too-large', detail: `payload is ${raw.length} bytes, over ${MAX_REQUEST_BYTES}` };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return { reason: 'not-utf8', detail: 'payload is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { reason: 'not-json', detail: `payload is not JSON: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { reason: 'not-object', detail: 'payload is not a JSON object' };
  }
  return { value: value as Record<string, unknown> };
}

/** The id and requester name of an invalid request when they are readable, for the audit log. */
function identify(value: Record<string, unknown>): { requestId?: string; requesterName?: string } {
  const out: { requestId?: string; requesterName?: string } = {};
  if (typeof value.id === 'string' && ID_PATTERN.test(value.id)) out.requestId = value.id;
  const requester = value.requester as Record<string, unknown> | null | undefined;
  if (requester && typeof requester === 'object' && typeof requester.name === 'string' && requester.name) {
    out.requesterName = requester.name.slice(0, 200); // bounded: it goes into the audit log
  }
  return out;
}

function checkTimes(req: Request, ctx: ValidationContext): Refusal | null {
  const from = parseIso(req.window.from);
  const to = parseIso(req.window.to);
  const maxWindowMs = ctx.limits.maxWindowHours * 3600 * 1000;
  if (to <= from) return { reason: 'window-order', detail: 'window.to is not after window.from' };
  if (to - from > maxWindowMs) {
    return { reason: 'window-too-long', detail: `window is longer than ${ctx.limits.maxWindowHours} h` };
  }
  if (from > ctx.now) return { reason: 'window-future', detail: 'window.from is in the future' };
  const expiresAt = parseIso(req.expiresAt);
  if (expiresAt <= ctx.now) return { reason: 'expired', detail: 'expiresAt is in the past' };
  if (expiresAt > ctx.now + MAX_EXPIRY_AHEAD_MS) {
    return { reason: 'expires-too-late', detail: 'expiresAt is more than 30 days ahead' };
  }
  if (parseIso(req.upload.expiresAt) <= ctx.now) {
    return { reason: 'upload-expired', detail: 'upload.expiresAt is in the past' };
  }
  return null;
}

function checkArea(req: Request, ctx: ValidationContext): Refusal | null {
  if (ctx.topic !== 'area') return null;
  if (!req.area) return { reason: 'area-missing', detail: 'a request on an area topic must carry area' };
  if (req.area.radiusM > MAX_AREA_RADIUS_M) {
    return { reason: 'area-too-large', detail: `area.radiusM ${req.area.radiusM} is over ${MAX_AREA_RADIUS_M}` };
  }
  if (!ctx.deviceLocation) {
    return { reason: 'no-location', detail: 'the device has no configured location, so it ignores area requests' };
  }
  if (distanceMeters(ctx.deviceLocation, req.area) > req.area.radiusM) {
    return { reason: 'outside-area', detail: 'the device lies outside the requested area' };
  }
  return null;
}

function checkPolicy(req: Request, policy: RequestPolicy): Refusal | null {
  if (policy.all) return { reason: 'policy', detail: 'the owner declines all requests' };
  if (policy.kinds.includes(req.requester.kind)) {
    return { reason: 'policy', detail: `the owner declines requests from kind "${req.requester.kind}"` };
  }
  if (policy.withoutCaseNumber && !req.requester.caseNumber) {
    return { reason: 'policy', detail: 'the owner declines requests without a case number' };
  }
  return null;
}

/** The key decides the id namespace, where the receipt may go and which device a direct request is for. */
function checkKeyBinding(req: Request, ctx: ValidationContext): Refusal | null {
  if (!idBelongsTo(req.id, ctx.keyId)) return { reason: 'id-not-in-namespace', detail: `id must start with "${ctx.keyId}."` };
  if (req.replyTo !== undefined) {
    const problem = replyToProblem(req.replyTo, ctx.keyId);
    if (problem) return { reason: 'bad-reply-to', detail: problem };
  }
  if (req.to !== undefined && req.to !== ctx.deviceBase) return { reason: 'wrong-device', detail: 'the request is for another device' };
  return null;
}

/** Unknown keys cost nothing to make: together they get a small share, so they never crowd out trusted requesters. */
function checkRateLimits(req: Request, ctx: ValidationContext): Refusal | null {
  if (!ctx.trusted && ctx.pendingUnknown() >= ctx.limits.maxPendingUnknown) {
    return { reason: 'rate-limited', detail: `unknown requesters already have ${ctx.limits.maxPendingUnknown} pending requests` };
  }
  if (ctx.pendingFor(ctx.keyId) >= ctx.limits.maxPendingPerRequester) {
    return { reason: 'rate-limited', detail: `the requester already has ${ctx.limits.maxPendingPerRequester} pending requests` };
  }
  if (ctx.pendingTotal() >= ctx.limits.maxPending) {
    return { reason: 'rate-limited', detail: `the device already has ${ctx.limits.maxPending} pending requests` };
  }
  return null;
}

/** The scheme and user-info rules, without resolving the host. */
function checkUploadUrl(url: string, opts: DestinationOptions): Refusal | null {
  try {
    checkDestinationUrl(url, opts);
    return null;
  } catch (err) {
    if (err instanceof DestinationError) return { reason: err.reason, detail: err.message };
    throw err;
  }
}

function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`)
    .join('; ');
}

/** Applies every rule of PROTOCOL.md "A request is invalid when". Never throws for bad input. */
export async function validateRequest(raw: Buffer, ctx: ValidationContext): Promise<ValidationResult> {
  const parsed = parseJsonObject(raw);
  if ('reason' in parsed) return { ok: false, ...parsed };
  const who = identify(parsed.value);
  const refuse = (r: Refusal): ValidationResult => ({ ok: false, ...r, ...who });

  if (parsed.value.v !== 2) return refuse({ reason: 'bad-version', detail: `v is ${String(JSON.stringify(parsed.value.v)).slice(0, 40)}, expected 2` });
  const result = requestSchema.safeParse(parsed.value);
  if (!result.success) return refuse({ reason: 'schema', detail: describeIssues(result.error) });
  const request = result.data;

  const destinationOpts: DestinationOptions = {
    allowInsecure: ctx.limits.allowInsecureUploads,
    allowPrivate: ctx.limits.allowPrivateDestinations,
    ...(ctx.lookup ? { lookup: ctx.lookup } : {}),
  };
  const refusal =
    checkKeyBinding(request, ctx) ??
    checkTimes(request, ctx) ??
    checkArea(request, ctx) ??
    checkUploadUrl(request.upload.url, destinationOpts) ??
    checkPolicy(request, ctx.policy) ??
    checkRateLimits(request, ctx);
  if (refusal) return refuse(refusal);

  let destination: CheckedDestination;
  try {
    destination = await checkDestination(request.upload.url, destinationOpts);
  } catch (err) {
    if (err instanceof DestinationError) return refuse({ reason: err.reason, detail: err.message });
    throw err;
  }
  return { ok: true, request, urlSha256: sha256Hex(request.upload.url), destination };
}

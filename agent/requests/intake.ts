/**
 * Request intake: a bounded queue, the requester's signature and the owner's trust policy, the
 * board's proof when public requests are required, validation one at a time (it may wait on DNS),
 * duplicate ids, matching clips, holds and the owner's notice.
 */
import { parseIso } from '../clock.js';
import { errorKindOf } from '../store/index.js';
import { buildNotice, MAX_NOTICE_CLIPS } from './notice.js';
import type { RequestLifecycle } from './lifecycle.js';
import { holderFor, type RequestServiceDeps } from './request-context.js';
import type { BoardMirror } from './board-mirror.js';
import { boardEntryBytes, MAX_REQUEST_MESSAGE_BYTES, openRequestMessage, requesterTrust } from './request-message.js';
import { validateRequest } from './request-schema.js';
import type { RequestState, RequestTable } from './request-table.js';

/** Messages waiting for validation; beyond this a flood is refused (and counted in the audit log). */
const MAX_QUEUED = 256;
/** Requests whose board checkpoint the device has not copied yet, and how many syncs they may wait. */
const MAX_WAITING = 64;
const MAX_WAIT_SYNCS = 3;
/** Requests kept while the disk is full, and how often they are tried again (a failed try writes nothing). */
const MAX_UNRECORDED = 64;
const DISK_RETRY_MS = 10_000;

export type IntakeTopic = 'direct' | 'area';

export class RequestIntake {
  private readonly queue: { topic: string; kind: IntakeTopic; payload: Buffer; syncs: number }[] = [];
  private readonly waiting: { topic: string; kind: IntakeTopic; payload: Buffer; syncs: number }[] = [];
  /** Requests the disk had no room to record: tried again until it has, so none is lost to a full disk. */
  private readonly unrecorded: { topic: string; kind: IntakeTopic; payload: Buffer; syncs: number }[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private draining = false;

  constructor(
    private readonly deps: RequestServiceDeps,
    private readonly table: RequestTable,
    private readonly lifecycle: RequestLifecycle,
    private readonly changed: () => void,
    private readonly mirror: BoardMirror | undefined,
  ) {}

  enqueue(topic: string, kind: IntakeTopic, payload: Buffer): void {
    if (this.queue.length >= MAX_QUEUED) {
      this.deps.audit.appendRefusal(topic, 'overloaded', { detail: `more than ${MAX_QUEUED} requests waiting` });
      return;
    }
    this.queue.push({ topic, kind, payload, syncs: 0 });
    if (!this.draining) void this.drainQueue();
  }

  private async drainQueue(): Promise<void> {
    this.draining = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        try {
          await this.handleRequest(next.topic, next.kind, next.payload, next.syncs);
        } catch (err) {
          if (errorKindOf(err) === 'disk-full' && this.unrecorded.length < MAX_UNRECORDED) {
            this.keepForLater(next, err as Error);
            continue;
          }
          this.deps.log.error('request handling failed', { topic: next.topic, error: (err as Error).message });
          try {
            this.deps.audit.appendRefusal(next.topic, 'internal-error', { detail: (err as Error).message });
          } catch (auditErr) {
            // A full disk fails the audit write too: throwing here would be an unhandled rejection that ends the agent.
            this.deps.log.error('the failed request could not be audited', { topic: next.topic, error: (auditErr as Error).message });
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private keepForLater(request: { topic: string; kind: IntakeTopic; payload: Buffer; syncs: number }, err: Error): void {
    this.unrecorded.push(request);
    // Once per round of retries, not once per request.
    if (this.unrecorded.length === 1) {
      this.deps.log.error('the disk is full: requests are kept in memory and recorded once there is room', { error: err.message });
    }
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.queue.push(...this.unrecorded.splice(0));
      if (!this.draining) void this.drainQueue();
    }, DISK_RETRY_MS);
    this.retryTimer.unref();
  }

  /** Requests whose board checkpoint is newer than the device's copy of the log, checked again after a sync. */
  recheckWaiting(): void {
    const waiting = this.waiting.splice(0);
    for (const w of waiting) {
      if (w.syncs >= MAX_WAIT_SYNCS) {
        this.refuse(w.topic, 'checkpoint-unknown', { detail: 'the board never served the checkpoint this request carries' });
        continue;
      }
      this.queue.push({ topic: w.topic, kind: w.kind, payload: w.payload, syncs: w.syncs + 1 });
    }
    if (!this.draining && this.queue.length) void this.drainQueue();
  }

  private refuse(topic: string, reason: string, data: Record<string, unknown>): void {
    this.deps.audit.appendRefusal(topic, reason, data);
    this.deps.log.info('request rejected', { reason, requestId: data.requestId });
  }

  private async handleRequest(topic: string, kind: IntakeTopic, raw: Buffer, syncs: number): Promise<void> {
    const { audit, clock, config, clips } = this.deps;
    if (raw.length > MAX_REQUEST_MESSAGE_BYTES) {
      audit.appendRefusal(topic, 'too-large', { bytes: raw.length });
      return;
    }
    const opened = openRequestMessage(raw);
    if (!opened.ok) {
      this.refuse(topic, opened.reason, { detail: opened.detail });
      return;
    }
    const { message, keyId } = opened;
    const payload = Buffer.from(message.payload, 'utf8');
    const now = clock.now();
    const policy = config.policy;
    const trust = requesterTrust(keyId, message, policy.requesters, now);
    if (!trust.trusted && policy.requesters.unknown === 'deny') {
      this.refuse(topic, 'unknown-requester', { requesterKeyId: keyId, detail: 'the owner accepts only pinned or vouched-for requesters' });
      return;
    }
    const needsProof = policy.requirePublicRequests === true || (policy.requirePublicRequests === 'area' && kind === 'area');
    let boardIndex: number | undefined;
    if (message.board && this.mirror) {
      const verdict = this.mirror.verify(message.board, boardEntryBytes('request', message));
      if (verdict.ok === 'wait') {
        if (this.waiting.length >= MAX_WAITING) this.refuse(topic, 'overloaded', { detail: `more than ${MAX_WAITING} requests wait for the board's log` });
        else this.waiting.push({ topic, kind, payload: raw, syncs });
        return;
      }
      if (!verdict.ok) {
        this.refuse(topic, verdict.reason, { requesterKeyId: keyId, detail: verdict.detail });
        return;
      }
      boardIndex = message.board.index;
    } else if (needsProof && !trust.pinned) {
      this.refuse(topic, 'not-public', {
        requesterKeyId: keyId,
        detail: this.mirror ? 'the request carries no proof from the request board' : 'public requests are required but policy.board is not set',
      });
      return;
    }
    const duplicate = this.duplicateOf(payload);
    if (duplicate) {
      audit.appendRefusal(topic, 'duplicate', { requestId: duplicate });
      return;
    }
    const result = await validateRequest(payload, {
      now,
      topic: kind,
      ...(config.device.location ? { deviceLocation: config.device.location } : {}),
      limits: config.requests,
      policy: policy.deny,
      keyId,
      trusted: trust.trusted,
      deviceBase: `${config.mqtt.prefix}/${config.device.id}`,
      pendingFor: (k) => this.table.pendingFor(k),
      pendingUnknown: () => this.table.pendingUnknown(),
      pendingTotal: () => this.table.pendingTotal(),
      ...(this.deps.lookup ? { lookup: this.deps.lookup } : {}),
    });
    if (!result.ok) {
      this.refuse(topic, result.reason, {
        detail: result.detail,
        requesterKeyId: keyId,
        ...(result.requestId ? { requestId: result.requestId } : {}),
        ...(result.requesterName ? { requester: result.requesterName } : {}),
      });
      return;
    }
    // Checked again: the duplicate check above ran before validation awaited DNS.
    const again = this.duplicateOf(payload);
    if (again) {
      audit.appendRefusal(topic, 'duplicate', { requestId: again });
      return;
    }
    const r = result.request;
    const overlapping = clips.overlapping(parseIso(r.window.from), parseIso(r.window.to));
    // One notice must carry every clip the owner may approve: a huge window is cut to its first clips.
    const matched = overlapping.slice(0, MAX_NOTICE_CLIPS);
    const state: RequestState = matched.length ? 'pending' : 'no-footage';
    const detail = !matched.length
      ? 'no clip overlaps the requested window'
      : matched.length < overlapping.length
        ? `the first ${matched.length} of ${overlapping.length} matching clips`
        : `${matched.length} clip(s) match`;
    // Holding these clips must leave room for new recordings (requests.maxHeldShare of storage.maxBytes).
    const heldLimit = Math.floor(config.requests.maxHeldShare * config.storage.maxBytes);
    const heldBytes = matched.length ? clips.heldBytesWith(matched.map((c) => c.id)) : 0;
    if (heldBytes > heldLimit) {
      this.refuse(topic, 'holds-full', { requestId: r.id, requesterKeyId: keyId, heldBytes, limitBytes: heldLimit });
      return;
    }
    const { pinned: _pinned, ...shown } = trust;
    this.deps.db.transaction(() => {
      this.table.insert({
        id: r.id,
        requesterName: r.requester.name,
        requesterKeyId: keyId,
        trust: { ...shown, ...(boardIndex !== undefined ? { boardIndex } : {}) },
        topic: kind,
        receivedAt: now,
        request: r,
        state,
        detail,
        urlSha256: result.urlSha256,
        expiresAt: parseIso(r.expiresAt),
        uploadExpiresAt: parseIso(r.upload.expiresAt),
        clips: matched.map((c) => ({ id: c.id, sha256: c.sha256 })),
        terminal: state !== 'pending',
      });
      if (matched.length) clips.hold(holderFor(r.id), matched.map((c) => c.id));
      audit.append('request', {
        requestId: r.id,
        topic: kind,
        requester: r.requester,
        requesterKeyId: keyId,
        ...(boardIndex !== undefined ? { boardIndex } : {}),
        reason: r.reason,
        window: r.window,
        destinationHost: result.destination.host,
        urlSha256: result.urlSha256,
        expiresAt: r.expiresAt,
        state,
        clips: matched.map((c) => c.id),
      });
      // Recorded with the request: nothing after this transaction writes, so a full disk cannot leave a request half taken.
      if (state === 'pending') audit.append('notice', { requestId: r.id, clips: matched.map((c) => c.id) });
    })();
    this.deps.log.info('request received', { requestId: r.id, requester: r.requester.name, keyId, state, clips: matched.length });
    const row = this.table.get(r.id)!;
    if (state === 'pending') {
      this.lifecycle.sendNotice(r.id, buildNotice(row, matched));
      this.lifecycle.scheduleExpiry();
    }
    this.lifecycle.publishStatus(r.id, state, detail);
    this.changed();
  }

  /**
   * A repeated id is ignored. Ids are `{keyId}.{suffix}` and validation binds them to the signing
   * key, so an id already taken was taken by the same key: another key can never squat it.
   */
  private duplicateOf(payload: Buffer): string | null {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      return null; // validateRequest reports the JSON error with its reason.
    }
    const p = parsed as { id?: unknown } | null;
    if (!p || typeof p.id !== 'string') return null;
    return this.table.get(p.id) ? p.id : null;
  }
}

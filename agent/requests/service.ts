/**
 * The request lifecycle of PROTOCOL.md: intake and validation, matching and holds, the owner's
 * notice, signed decisions, expiry, statuses and receipts. Nothing here approves anything by itself:
 * the only way to `approved` is a decision that verifyDecision accepted.
 */
import { EventEmitter } from 'node:events';
import { iso, parseIso, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { AuditLog } from '../audit/index.js';
import type { Topics } from '../mqtt/index.js';
import { MAX_DECISION_BYTES, parseDecisionEnvelope, verifyDecision, type NonceStore, type OwnerRegistry } from '../owner/index.js';
import type { ClipRecord } from '../store/index.js';
import type { Db } from '../store/database.js';
import { encodeGeohash, geohashNeighbours } from './geohash.js';
import type { LookupFn } from './destination.js';
import { buildNotice, MAX_NOTICE_CLIPS } from './notice.js';
import { MAX_REQUEST_BYTES, validateRequest } from './request-schema.js';
import { RequestTable, type RequestRow, type RequestState } from './request-table.js';
import { Uploader } from './uploader.js';

/** The parts of the clip store requests use. */
export interface ClipAccess {
  overlapping(from: number, to: number): ClipRecord[];
  get(id: string): ClipRecord | undefined;
  hold(holder: string, clipIds: string[]): void;
  release(holder: string): void;
}

/** The parts of the MQTT link requests use. */
export interface Messaging {
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void>;
  publishReliable(topic: string, payload: Buffer | string, opts?: { retain?: boolean }): void;
  publishLatest(topic: string, payload: Buffer | string, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
}

export interface RequestServiceDeps {
  config: Config;
  db: Db;
  clips: ClipAccess;
  mqtt: Messaging;
  topics: Topics;
  audit: AuditLog;
  owners: OwnerRegistry;
  nonces: NonceStore;
  device: { id: string; publicKey: string; sign(message: Buffer): string };
  clock: Clock;
  log: Logger;
  lookup?: LookupFn | undefined;
}

/** Messages waiting for validation; beyond this a flood is refused (and counted in the audit log). */
const MAX_QUEUED = 256;
const STATUS_RETENTION_MS = 7 * 24 * 3600_000;

export const holderFor = (requestId: string): string => `request:${requestId}`;

export class RequestService extends EventEmitter<{ changed: [] }> {
  private readonly table: RequestTable;
  private readonly uploader: Uploader;
  private readonly queue: { topic: string; kind: 'direct' | 'area'; payload: Buffer }[] = [];
  private draining = false;
  private expiryTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly lastRefusalStatus = new Map<string, number>();

  constructor(private readonly deps: RequestServiceDeps) {
    super();
    this.table = new RequestTable(deps.db);
    const u = deps.config.requests;
    this.uploader = new Uploader({
      table: this.table,
      clip: (id) => deps.clips.get(id),
      audit: deps.audit,
      device: deps.device,
      limits: {
        allowInsecureUploads: u.allowInsecureUploads,
        allowPrivateDestinations: u.allowPrivateDestinations,
        maxAttempts: u.upload.maxAttempts,
        timeoutSeconds: u.upload.timeoutSeconds,
        maxBytes: u.upload.maxBytes,
      },
      clock: deps.clock,
      log: deps.log,
      lookup: deps.lookup,
      onUploading: (row, attempt) => this.publishStatus(row.id, 'uploading', `attempt ${attempt}`, { latest: true }),
      onProgress: (row, sent, total) =>
        this.publishStatus(row.id, 'uploading', 'sending', { latest: true, progress: { sentBytes: sent, totalBytes: total } }),
      onRetry: (row, detail) => this.publishStatus(row.id, 'uploading', detail),
      onDone: (row, manifestSha256) => this.finishUploaded(row, manifestSha256),
      onFailed: (row, detail) => this.close(row.id, 'failed', detail),
    });
  }

  async start(): Promise<void> {
    const { mqtt, topics, config } = this.deps;
    this.table.start();
    // Timers are rebuilt from the table: a restart loses nothing.
    this.expirePending();
    this.sweepStatuses();
    this.sweepTimer = setInterval(() => this.sweepStatuses(), 3600_000);
    await mqtt.subscribe(topics.request, (topic, payload) => this.enqueue(topic, 'direct', payload));
    if (config.device.location) {
      const cell = encodeGeohash(config.device.location.lat, config.device.location.lon, 5);
      for (const hash of [cell, ...geohashNeighbours(cell)]) {
        await mqtt.subscribe(topics.areaRequest(hash), (topic, payload) => this.enqueue(topic, 'area', payload));
      }
    }
    await mqtt.subscribe(topics.decision, (topic, payload) => this.handleDecision(topic, payload));
    this.uploader.start();
  }

  async stop(): Promise<void> {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.expiryTimer = this.sweepTimer = null;
    await this.uploader.stop();
  }

  pendingIds(): string[] {
    return this.table.inState('pending').map((r) => r.id);
  }

  /** Validation may wait on DNS: requests are checked one at a time from a bounded queue. */
  private enqueue(topic: string, kind: 'direct' | 'area', payload: Buffer): void {
    if (this.queue.length >= MAX_QUEUED) {
      this.deps.audit.appendRefusal(topic, 'overloaded', { detail: `more than ${MAX_QUEUED} requests waiting` });
      return;
    }
    this.queue.push({ topic, kind, payload });
    if (!this.draining) void this.drainQueue();
  }

  private async drainQueue(): Promise<void> {
    this.draining = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        try {
          await this.handleRequest(next.topic, next.kind, next.payload);
        } catch (err) {
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

  private async handleRequest(topic: string, kind: 'direct' | 'area', payload: Buffer): Promise<void> {
    const { audit, clock, config, clips } = this.deps;
    if (payload.length > MAX_REQUEST_BYTES) {
      audit.appendRefusal(topic, 'too-large', { bytes: payload.length });
      return;
    }
    const duplicate = this.duplicateOf(payload);
    if (duplicate) {
      audit.appendRefusal(topic, duplicate.reason, { requestId: duplicate.id });
      return;
    }
    const now = clock.now();
    const result = await validateRequest(payload, {
      now,
      topic: kind,
      ...(config.device.location ? { deviceLocation: config.device.location } : {}),
      limits: config.requests,
      policy: config.policy.deny,
      pendingFor: (name) => this.table.pendingFor(name),
      pendingTotal: () => this.table.pendingTotal(),
      ...(this.deps.lookup ? { lookup: this.deps.lookup } : {}),
    });
    if (!result.ok) {
      audit.appendRefusal(topic, result.reason, {
        detail: result.detail,
        ...(result.requestId ? { requestId: result.requestId } : {}),
        ...(result.requesterName ? { requester: result.requesterName } : {}),
      });
      this.deps.log.info('request rejected', { reason: result.reason, requestId: result.requestId });
      return;
    }
    // Checked again: the duplicate check above ran before validation awaited DNS.
    const again = this.duplicateOf(payload);
    if (again) {
      audit.appendRefusal(topic, again.reason, { requestId: again.id });
      return;
    }
    const r = result.request;
    // A receipt must never land on this doorbell's own topics (or another's): only the requester's.
    if (r.replyTo && (r.replyTo === config.mqtt.prefix || r.replyTo.startsWith(`${config.mqtt.prefix}/`))) {
      audit.appendRefusal(topic, 'bad-reply-to', { requestId: r.id, detail: 'replyTo lies under the doorbell topic prefix' });
      return;
    }
    const overlapping = clips.overlapping(parseIso(r.window.from), parseIso(r.window.to));
    // One notice must carry every clip the owner may approve: a huge window is cut to its first clips.
    const matched = overlapping.slice(0, MAX_NOTICE_CLIPS);
    const state: RequestState = matched.length ? 'pending' : 'no-footage';
    const detail = !matched.length
      ? 'no clip overlaps the requested window'
      : matched.length < overlapping.length
        ? `the first ${matched.length} of ${overlapping.length} matching clips`
        : `${matched.length} clip(s) match`;
    this.deps.db.transaction(() => {
      this.table.insert({
        id: r.id,
        requesterName: r.requester.name,
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
        reason: r.reason,
        window: r.window,
        destinationHost: result.destination.host,
        urlSha256: result.urlSha256,
        expiresAt: r.expiresAt,
        state,
        clips: matched.map((c) => c.id),
      });
    })();
    this.deps.log.info('request received', { requestId: r.id, requester: r.requester.name, state, clips: matched.length });
    const row = this.table.get(r.id)!;
    if (state === 'pending') {
      this.deps.mqtt.publishReliable(this.deps.topics.inbox(r.id), buildNotice(row, matched, result.destination.host), { retain: true });
      audit.append('notice', { requestId: r.id, clips: matched.map((c) => c.id) });
      this.scheduleExpiry();
    }
    this.publishStatus(r.id, state, detail);
    this.emit('changed');
  }

  /** A repeated id is ignored when it comes from the same requester, refused when from another. */
  private duplicateOf(payload: Buffer): { id: string; reason: string } | null {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      return null; // validateRequest reports the JSON error with its reason.
    }
    const p = parsed as { id?: unknown; requester?: { name?: unknown } } | null;
    if (!p || typeof p.id !== 'string') return null;
    const existing = this.table.get(p.id);
    if (!existing) return null;
    return { id: p.id, reason: existing.requesterName === p.requester?.name ? 'duplicate' : 'id-in-use' };
  }

  private handleDecision(topic: string, payload: Buffer): void {
    const { audit, clock, owners, nonces, device } = this.deps;
    if (payload.length > MAX_DECISION_BYTES) {
      audit.appendRefusal(topic, 'too-large', { bytes: payload.length });
      return;
    }
    const parsed = parseDecisionEnvelope(payload);
    if (!parsed.ok) {
      audit.appendRefusal(topic, parsed.reason, {});
      return;
    }
    const now = clock.now();
    const verdict = verifyDecision(parsed.envelope, {
      deviceId: device.id,
      now,
      keyStatus: (keyId) => owners.keyStatus(keyId),
      keyFor: (keyId) => owners.activeKey(keyId),
      request: (id) => {
        const row = this.table.get(id);
        return row ? { state: row.state, clips: row.clips, urlSha256: row.urlSha256 } : undefined;
      },
      nonceSeen: (nonce) => nonces.seen(nonce),
    });
    if (!verdict.ok) {
      audit.appendRefusal(topic, verdict.reason, {
        keyId: parsed.envelope.keyId,
        ...(verdict.requestId ? { requestId: verdict.requestId } : {}),
      });
      this.deps.log.warn('decision refused', { reason: verdict.reason, requestId: verdict.requestId });
      this.publishRefusal(verdict.requestId, verdict.reason);
      return;
    }
    const d = verdict.decision;
    const keyId = parsed.envelope.keyId;
    if (!nonces.remember(d.nonce, parseIso(d.expiresAt))) {
      audit.appendRefusal(topic, 'replayed-nonce', { keyId, requestId: d.requestId });
      return;
    }
    if (d.decision === 'deny') {
      audit.append('decision', { requestId: d.requestId, decision: 'deny', keyId });
      this.close(d.requestId, 'denied', 'denied by the owner');
      return;
    }
    const approvedIds = d.clips.map((c) => c.id);
    const accepted = this.deps.db.transaction(() => {
      const ok = this.table.approve(d.requestId, parsed.envelope, approvedIds, now);
      if (ok) audit.append('decision', { requestId: d.requestId, decision: 'approve', keyId, clips: approvedIds });
      return ok;
    })();
    if (!accepted) return;
    this.deps.log.info('request approved', { requestId: d.requestId, clips: approvedIds.length });
    this.clearNotice(d.requestId);
    this.publishStatus(d.requestId, 'approved', `approved by ${keyId}: ${approvedIds.length} clip(s)`);
    this.emit('changed');
    this.uploader.kick();
  }

  /** Tells the owner why a decision was refused, at most once a second per request (floods stay cheap). */
  private publishRefusal(requestId: string | undefined, reason: string): void {
    const row = requestId ? this.table.get(requestId) : undefined;
    if (!row) return;
    const now = this.deps.clock.now();
    if (now - (this.lastRefusalStatus.get(row.id) ?? 0) < 1000) return;
    this.lastRefusalStatus.set(row.id, now);
    this.publishStatus(row.id, row.state, `decision refused: ${reason}`);
  }

  private finishUploaded(row: RequestRow, manifestSha256: string): void {
    this.close(row.id, 'uploaded', 'evidence bundle delivered');
    if (row.request.replyTo) {
      const receipt = {
        v: 1,
        requestId: row.id,
        device: this.deps.device.id,
        manifestSha256,
        clips: row.approvedClipIds,
      };
      try {
        this.deps.mqtt.publishReliable(row.request.replyTo, JSON.stringify(receipt));
      } catch (err) {
        this.deps.log.warn('receipt not sent: replyTo is not a topic we can publish to', { requestId: row.id, error: (err as Error).message });
      }
    }
  }

  /** Moves a request to a terminal state: holds released, notice cleared, status published. */
  private close(id: string, state: 'denied' | 'expired' | 'failed' | 'uploaded', detail: string): void {
    const { audit, clips, clock } = this.deps;
    const before = this.table.get(id);
    if (!before) return;
    this.deps.db.transaction(() => {
      this.table.setState(id, state, detail, clock.now());
      clips.release(holderFor(id));
      if (state !== 'denied') audit.append(state === 'expired' ? 'expired' : 'closed', { requestId: id, state, detail });
    })();
    this.deps.log.info(`request ${state}`, { requestId: id, detail });
    if (before.state === 'pending') this.clearNotice(id);
    this.publishStatus(id, state, detail);
    this.emit('changed');
  }

  private clearNotice(id: string): void {
    this.deps.mqtt.publishReliable(this.deps.topics.inbox(id), Buffer.alloc(0), { retain: true });
  }

  private publishStatus(
    id: string,
    state: RequestState,
    detail: string,
    opts: { latest?: boolean; progress?: { sentBytes: number; totalBytes: number } } = {},
  ): void {
    const status = JSON.stringify({
      v: 1,
      requestId: id,
      state,
      at: iso(this.deps.clock.now()),
      detail,
      ...(opts.progress ? { progress: opts.progress } : {}),
    });
    const topic = this.deps.topics.status(id);
    // Progress is superseded by the next message; state changes must survive an outage.
    if (opts.latest) {
      this.deps.mqtt.publishLatest(topic, status, { retain: true }).catch((err: Error) =>
        this.deps.log.debug('progress status not sent', { error: err.message }),
      );
    } else this.deps.mqtt.publishReliable(topic, status, { retain: true });
  }

  private expirePending(): void {
    const now = this.deps.clock.now();
    for (const row of this.table.inState('pending')) {
      if (row.expiresAt <= now) this.close(row.id, 'expired', 'nobody decided before the request expired');
    }
    this.scheduleExpiry();
  }

  private scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const next = Math.min(...this.table.inState('pending').map((r) => r.expiresAt));
    this.expiryTimer = Number.isFinite(next)
      ? setTimeout(() => this.expirePending(), Math.min(Math.max(0, next - this.deps.clock.now()) + 10, 2 ** 31 - 1))
      : null;
  }

  /** Retained statuses are cleared 7 days after a terminal state (PROTOCOL.md "Topics"). */
  private sweepStatuses(): void {
    for (const id of this.table.clearable(this.deps.clock.now() - STATUS_RETENTION_MS)) {
      this.deps.mqtt.publishReliable(this.deps.topics.status(id), Buffer.alloc(0), { retain: true });
      this.table.markStatusCleared(id);
    }
  }
}

/**
 * Request intake: a bounded queue, validation one at a time (it may wait on DNS), duplicate ids,
 * matching clips, holds and the owner's notice.
 */
import { parseIso } from '../clock.js';
import { buildNotice, MAX_NOTICE_CLIPS } from './notice.js';
import type { RequestLifecycle } from './lifecycle.js';
import { holderFor, type RequestServiceDeps } from './request-context.js';
import { MAX_REQUEST_BYTES, validateRequest } from './request-schema.js';
import type { RequestState, RequestTable } from './request-table.js';

/** Messages waiting for validation; beyond this a flood is refused (and counted in the audit log). */
const MAX_QUEUED = 256;

export type IntakeTopic = 'direct' | 'area';

export class RequestIntake {
  private readonly queue: { topic: string; kind: IntakeTopic; payload: Buffer }[] = [];
  private draining = false;

  constructor(
    private readonly deps: RequestServiceDeps,
    private readonly table: RequestTable,
    private readonly lifecycle: RequestLifecycle,
    private readonly changed: () => void,
  ) {}

  enqueue(topic: string, kind: IntakeTopic, payload: Buffer): void {
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

  private async handleRequest(topic: string, kind: IntakeTopic, payload: Buffer): Promise<void> {
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
      this.lifecycle.scheduleExpiry();
    }
    this.lifecycle.publishStatus(r.id, state, detail);
    this.changed();
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
}

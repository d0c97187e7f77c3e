/**
 * A request after intake: terminal states, the retained notice and statuses, expiry of undecided
 * requests, the sweep of old statuses and the requester's receipt.
 */
import { iso } from '../clock.js';
import type { ClipRecord } from '../store/index.js';
import { buildNotice } from './notice.js';
import { holderFor, type RequestServiceDeps } from './request-context.js';
import { RECEIPT_DOMAIN } from './requester-key.js';
import type { RequestRow, RequestState, RequestTable } from './request-table.js';

const STATUS_RETENTION_MS = 7 * 24 * 3600_000;

export type TerminalState = 'denied' | 'expired' | 'failed' | 'uploaded' | 'cancelled';

export class RequestLifecycle {
  private expiryTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: RequestServiceDeps,
    private readonly table: RequestTable,
    private readonly changed: () => void,
  ) {}

  /** Timers are rebuilt from the table: a restart loses nothing. */
  start(): void {
    this.expirePending();
    this.republishNotices();
    this.sweepStatuses();
    this.sweepTimer = setInterval(() => this.safely('status sweep', () => this.sweepStatuses()), 3600_000);
  }

  /**
   * A crash between writing a request and queueing its notice would leave the owner unaware of it:
   * every pending request's notice is queued again at start (retained, so a copy replaces itself).
   */
  private republishNotices(): void {
    for (const row of this.table.inState('pending')) {
      const clips = row.clips.map((c) => this.deps.clips.get(c.id)).filter((c): c is ClipRecord => c !== undefined);
      const host = new URL(row.request.upload.url).hostname;
      this.deps.mqtt.publishReliable(this.deps.topics.inbox(row.id), buildNotice(row, clips, host), { retain: true });
    }
  }

  /** Timer callbacks never throw (a full disk fails a write): they log, and the next tick tries again. */
  private safely(what: string, work: () => void): void {
    try {
      work();
    } catch (err) {
      this.deps.log.error(`${what} failed; will try again`, { error: (err as Error).message });
    }
  }

  stop(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.expiryTimer = this.sweepTimer = null;
  }

  /**
   * The receipt is signed by the device and published outside the ordered outbox: a topic the
   * broker refuses loses this one receipt and never holds back a ring, a notice or another receipt.
   */
  finishUploaded(row: RequestRow, manifestSha256: string): void {
    this.close(row.id, 'uploaded', 'evidence bundle delivered');
    const replyTo = row.request.replyTo;
    if (!replyTo) return;
    const payload = JSON.stringify({ v: 2, requestId: row.id, device: this.deps.device.id, manifestSha256, clips: row.approvedClipIds });
    const sig = this.deps.device.sign(Buffer.from(RECEIPT_DOMAIN + payload, 'utf8'));
    const receipt = JSON.stringify({ v: 2, key: this.deps.device.publicKey, payload, sig });
    const failed = (err: Error): void => this.deps.log.warn('receipt not sent', { requestId: row.id, error: err.message });
    try {
      this.deps.mqtt.publishLatest(replyTo, receipt, { qos: 1 }).catch(failed);
    } catch (err) {
      failed(err as Error);
    }
  }

  /** Moves a request to a terminal state: holds released, notice cleared, status published. */
  close(id: string, state: TerminalState, detail: string): void {
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
    this.changed();
  }

  clearNotice(id: string): void {
    this.deps.mqtt.publishReliable(this.deps.topics.inbox(id), Buffer.alloc(0), { retain: true });
  }

  publishStatus(
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
    // Progress is superseded by the next message; state changes must survive an outage. Progress
    // waits behind queued state changes: `uploading` never reaches the owner before `approved`.
    if (opts.latest) {
      this.deps.mqtt.publishLatest(topic, status, { retain: true, afterReliable: true }).catch((err: Error) =>
        this.deps.log.debug('progress status not sent', { error: err.message }),
      );
    } else this.deps.mqtt.publishReliable(topic, status, { retain: true });
  }

  expirePending(): void {
    const now = this.deps.clock.now();
    for (const row of this.table.inState('pending')) {
      if (row.expiresAt <= now) this.close(row.id, 'expired', 'nobody decided before the request expired');
    }
    this.scheduleExpiry();
  }

  scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const next = Math.min(...this.table.inState('pending').map((r) => r.expiresAt));
    this.expiryTimer = Number.isFinite(next)
      ? setTimeout(() => this.expireOnTimer(), Math.min(Math.max(0, next - this.deps.clock.now()) + 10, 2 ** 31 - 1))
      : null;
  }

  /** The expiry timer: a failure (a full disk) is logged and tried again a minute later, never thrown. */
  private expireOnTimer(): void {
    this.expiryTimer = null;
    try {
      this.expirePending();
    } catch (err) {
      this.deps.log.error('expiring requests failed; will try again in 60 s', { error: (err as Error).message });
      this.expiryTimer = setTimeout(() => this.expireOnTimer(), 60_000);
    }
  }

  /** Retained statuses are cleared 7 days after a terminal state (PROTOCOL.md "Topics"). */
  private sweepStatuses(): void {
    for (const id of this.table.clearable(this.deps.clock.now() - STATUS_RETENTION_MS)) {
      this.deps.mqtt.publishReliable(this.deps.topics.status(id), Buffer.alloc(0), { retain: true });
      this.table.markStatusCleared(id);
    }
  }
}

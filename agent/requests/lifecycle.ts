/**
 * A request after intake: terminal states, the sealed notice and statuses for the owners, expiry of
 * undecided requests, and the receipts (the requester's, and the owners' copy).
 */
import type { Json } from '../envelope/index.js';
import type { ClipRecord } from '../store/index.js';
import { buildNotice, type NoticeBook } from './notice.js';
import { holderFor, type RequestServiceDeps } from './request-context.js';
import { RECEIPT_DOMAIN } from './requester-key.js';
import type { RequestRow, RequestState, RequestTable } from './request-table.js';

export type TerminalState = 'denied' | 'expired' | 'failed' | 'uploaded' | 'cancelled';

/** After a failed expiry round (a full disk), the next try: soon, so a request expires soon after there is room. */
const EXPIRY_RETRY_MS = 15_000;

export class RequestLifecycle {
  private expiryTimer: NodeJS.Timeout | null = null;
  /** Requests whose notice is being signed: not signed twice. */
  private readonly signing = new Set<string>();

  constructor(
    private readonly deps: RequestServiceDeps,
    private readonly table: RequestTable,
    private readonly notices: NoticeBook,
    private readonly changed: () => void,
  ) {}

  /** Timers are rebuilt from the table: a restart loses nothing. */
  start(): void {
    this.notices.start();
    this.expirePending();
    this.signMissingNotices();
  }

  /**
   * A pending request without a kept notice gets one now: a crash came between writing the request
   * and signing its notice, or no owner was enrolled to seal it to. Called at start and before each
   * answer to an ask, so an owner enrolled later is told about it.
   */
  signMissingNotices(): void {
    for (const row of this.table.inState('pending')) {
      if (this.signing.has(row.id) || this.notices.get(row.id)) continue;
      const clips = row.clips.map((c) => this.deps.clips.get(c.id)).filter((c): c is ClipRecord => c !== undefined);
      this.sendNotice(row.id, buildNotice(row, clips));
    }
  }

  stop(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }

  /**
   * Signs the notice once, keeps its plaintext for resends, and seals it to the owners. It is kept
   * before any later message is sealed, so an answer to an ask (a later `seq`) always lists it.
   */
  sendNotice(requestId: string, notice: Json & { kind: 'notice' }): void {
    const keep = (sent: { plaintext: Uint8Array }): void => {
      try {
        if (this.table.get(requestId)?.state === 'pending') this.notices.keep(requestId, sent.plaintext);
      } catch (err) {
        // Sent, but not kept for resends (a full disk): the next ask's answer signs it again.
        this.deps.log.error('the notice was sent but could not be kept', { requestId, error: (err as Error).message });
      }
    };
    this.signing.add(requestId);
    this.deps.owner
      .send(notice, { sealed: keep })
      .catch((err: Error) => this.deps.log.error('the notice could not be sent', { requestId, error: err.message }))
      .finally(() => this.signing.delete(requestId));
  }

  /**
   * The requester's receipt, signed by the device, is queued in the same transaction that marks the
   * request uploaded, so neither a broker outage nor a crash loses it; it travels outside the ordered
   * outbox, so a topic the broker refuses never holds back a ring, a notice or another receipt.
   */
  finishUploaded(row: RequestRow, manifestSha256: string): void {
    const replyTo = row.request.replyTo;
    this.close(row.id, 'uploaded', 'evidence bundle delivered', () => {
      if (replyTo) this.deps.mqtt.publishReliable(replyTo, this.requesterReceipt(row, manifestSha256), { independent: true });
    });
    this.send({ kind: 'receipt', requestId: row.id, manifestSha256, clips: row.approvedClipIds, receiptTo: replyTo ?? null });
  }

  private requesterReceipt(row: RequestRow, manifestSha256: string): string {
    const payload = JSON.stringify({ v: 2, requestId: row.id, device: this.deps.device.id, manifestSha256, clips: row.approvedClipIds });
    const sig = this.deps.device.sign(Buffer.from(RECEIPT_DOMAIN + payload, 'utf8'));
    return JSON.stringify({ v: 2, key: this.deps.device.publicKey, payload, sig });
  }

  /**
   * Moves a request to a terminal state: holds released, notice cleared, status published. `also`
   * runs inside the same transaction.
   */
  close(id: string, state: TerminalState, detail: string, also?: () => void): void {
    const { audit, clips, clock } = this.deps;
    const before = this.table.get(id);
    if (!before) return;
    this.deps.db.transaction(() => {
      this.table.setState(id, state, detail, clock.now());
      clips.release(holderFor(id));
      if (state !== 'denied') audit.append(state === 'expired' ? 'expired' : 'closed', { requestId: id, state, detail });
      also?.();
    })();
    this.deps.log.info(`request ${state}`, { requestId: id, detail });
    if (before.state === 'pending') this.clearNotice(id);
    this.publishStatus(id, state, detail);
    this.changed();
  }

  /** The notice is no longer resent once its request left `pending`. */
  clearNotice(id: string): void {
    this.notices.forget(id);
  }

  publishStatus(
    id: string,
    state: RequestState,
    detail: string,
    opts: { latest?: boolean; progress?: { sentBytes: number; totalBytes: number } } = {},
  ): void {
    // Progress is superseded by the next message; state changes must survive an outage.
    this.send({ kind: 'status', requestId: id, state, detail, ...(opts.progress ? { progress: opts.progress } : {}) }, { latest: opts.latest });
  }

  private send(fields: Json & { kind: string }, opts: { latest?: boolean | undefined } = {}): void {
    this.deps.owner
      .send(fields, opts.latest ? { latest: true } : {})
      .catch((err: Error) => this.deps.log.error(`the ${fields.kind} could not be sent to the owners`, { error: err.message }));
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

  /** The expiry timer: a failure (a full disk) is logged and tried again shortly, never thrown. */
  private expireOnTimer(): void {
    this.expiryTimer = null;
    try {
      this.expirePending();
    } catch (err) {
      this.deps.log.error(`expiring requests failed; will try again in ${EXPIRY_RETRY_MS / 1000} s`, { error: (err as Error).message });
      this.expiryTimer = setTimeout(() => this.expireOnTimer(), EXPIRY_RETRY_MS);
    }
  }
}

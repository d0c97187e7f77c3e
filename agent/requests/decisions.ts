/**
 * Owners' decisions, opened by the owner channel (sealed to this device, signed by an enrolled,
 * unrevoked owner over `P/D/owner/in`): verified against the request and the notice the owners were
 * shown, replay-checked, then a request is denied or approved for upload.
 */
import { parseIso } from '../clock.js';
import { fromUtf8, parseEnvelope, sha256Hex, type OpenedMessage } from '../envelope/index.js';
import { verifyDecision } from '../owner/index.js';
import type { RequestLifecycle } from './lifecycle.js';
import type { NoticeBook } from './notice.js';
import type { RequestServiceDeps } from './request-context.js';
import type { RequestTable } from './request-table.js';

export class DecisionHandler {
  private readonly lastRefusalStatus = new Map<string, number>();

  constructor(
    private readonly deps: RequestServiceDeps,
    private readonly table: RequestTable,
    private readonly notices: NoticeBook,
    private readonly lifecycle: RequestLifecycle,
    private readonly approved: () => void,
    /** Stops an approved upload; false if it was no longer approved or uploading. */
    private readonly cancelUpload: (requestId: string, detail: string) => boolean,
  ) {}

  handle(message: OpenedMessage): void {
    const { audit, clock, nonces, device } = this.deps;
    const topic = this.deps.owner.inTopic;
    const keyId = message.keyId;
    const now = clock.now();
    const verdict = verifyDecision(message.body, {
      deviceId: device.id,
      now,
      request: (id) => {
        let row = this.table.get(id);
        // Expired even if its timer has not fired yet (a busy or stopped loop): it is closed now,
        // so a late approval is refused as request-not-pending.
        if (row?.state === 'pending' && row.expiresAt <= now) {
          this.lifecycle.close(id, 'expired', 'nobody decided before the request expired');
          row = this.table.get(id);
        }
        return row ? { state: row.state, clips: row.clips, urlSha256: row.urlSha256, noticeSha256: this.notices.get(id)?.sha256 } : undefined;
      },
      nonceSeen: (nonce) => nonces.seen(nonce),
    });
    if (!verdict.ok) {
      audit.appendRefusal(topic, verdict.reason, { keyId, ...(verdict.requestId ? { requestId: verdict.requestId } : {}) });
      this.deps.log.warn('decision refused', { reason: verdict.reason, requestId: verdict.requestId });
      this.publishRefusal(verdict.requestId, verdict.reason);
      return;
    }
    const d = verdict.decision;
    // The owner's signed decision as sent: its body's hash goes into the log, the whole into the manifest.
    const envelope = parseEnvelope(message.plaintext);
    const approval = { keyId, topic, payload: fromUtf8(envelope.body), sig: Buffer.from(envelope.sig).toString('base64url') };
    const payloadSha256 = sha256Hex(approval.payload);
    const approvedIds = d.clips.map((c) => c.id);
    // The nonce and what the decision does are one commit (one fsync on the way to an upload, which
    // costs milliseconds on an SD card), and a failed write leaves neither: the owner's resend counts.
    const outcome = this.deps.db.transaction((): 'replayed' | 'done' | 'approved' => {
      if (!nonces.remember(d.nonce, parseIso(d.expiresAt))) {
        audit.appendRefusal(topic, 'replayed-nonce', { keyId, requestId: d.requestId });
        return 'replayed';
      }
      if (d.decision === 'cancel') {
        audit.append('decision', { requestId: d.requestId, decision: 'cancel', keyId });
        this.cancelUpload(d.requestId, `cancelled by the owner (${keyId})`);
        return 'done';
      }
      if (d.decision === 'deny') {
        audit.append('decision', { requestId: d.requestId, decision: 'deny', keyId, noticeSha256: d.noticeSha256, payloadSha256 });
        this.lifecycle.close(d.requestId, 'denied', 'denied by the owner');
        return 'done';
      }
      if (!this.table.approve(d.requestId, approval, approvedIds, now)) return 'done';
      audit.append('decision', { requestId: d.requestId, decision: 'approve', keyId, clips: approvedIds, noticeSha256: d.noticeSha256, payloadSha256 });
      this.lifecycle.clearNotice(d.requestId);
      return 'approved';
    })();
    if (outcome !== 'approved') return;
    this.deps.log.info('request approved', { requestId: d.requestId, clips: approvedIds.length });
    this.lifecycle.publishStatus(d.requestId, 'approved', `approved by ${keyId}: ${approvedIds.length} clip(s)`);
    this.approved();
  }

  /** Tells the owners why a decision was refused, at most once a second per request (floods stay cheap). */
  private publishRefusal(requestId: string | undefined, reason: string): void {
    const row = requestId ? this.table.get(requestId) : undefined;
    if (!row) return;
    const now = this.deps.clock.now();
    if (now - (this.lastRefusalStatus.get(row.id) ?? 0) < 1000) return;
    this.lastRefusalStatus.set(row.id, now);
    this.lifecycle.publishStatus(row.id, row.state, `decision refused: ${reason}`);
  }
}

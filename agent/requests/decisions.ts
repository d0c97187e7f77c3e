/** Signed owner decisions: verified, replay-checked, then a request is denied or approved for upload. */
import { parseIso } from '../clock.js';
import { MAX_DECISION_BYTES, parseDecisionEnvelope, sha256Hex, verifyDecision } from '../owner/index.js';
import type { RequestLifecycle } from './lifecycle.js';
import type { RequestServiceDeps } from './request-context.js';
import type { RequestTable } from './request-table.js';

export class DecisionHandler {
  private readonly lastRefusalStatus = new Map<string, number>();

  constructor(
    private readonly deps: RequestServiceDeps,
    private readonly table: RequestTable,
    private readonly lifecycle: RequestLifecycle,
    private readonly approved: () => void,
    /** Stops an approved upload; false if it was no longer approved or uploading. */
    private readonly cancelUpload: (requestId: string, detail: string) => boolean,
  ) {}

  handle(topic: string, payload: Buffer): void {
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
        let row = this.table.get(id);
        // Expired even if its timer has not fired yet (a busy or stopped loop): it is closed now,
        // so a late approval is refused as request-not-pending.
        if (row?.state === 'pending' && row.expiresAt <= now) {
          this.lifecycle.close(id, 'expired', 'nobody decided before the request expired');
          row = this.table.get(id);
        }
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
    if (d.decision === 'cancel') {
      audit.append('decision', { requestId: d.requestId, decision: 'cancel', keyId });
      this.cancelUpload(d.requestId, `cancelled by the owner (${keyId})`);
      return;
    }
    if (d.decision === 'deny') {
      audit.append('decision', { requestId: d.requestId, decision: 'deny', keyId, payloadSha256: sha256Hex(parsed.envelope.payload) });
      this.lifecycle.close(d.requestId, 'denied', 'denied by the owner');
      return;
    }
    const approvedIds = d.clips.map((c) => c.id);
    const accepted = this.deps.db.transaction(() => {
      const ok = this.table.approve(d.requestId, parsed.envelope, approvedIds, now);
      if (ok) audit.append('decision', { requestId: d.requestId, decision: 'approve', keyId, clips: approvedIds, payloadSha256: sha256Hex(parsed.envelope.payload) });
      return ok;
    })();
    if (!accepted) return;
    this.deps.log.info('request approved', { requestId: d.requestId, clips: approvedIds.length });
    this.lifecycle.clearNotice(d.requestId);
    this.lifecycle.publishStatus(d.requestId, 'approved', `approved by ${keyId}: ${approvedIds.length} clip(s)`);
    this.approved();
  }

  /** Tells the owner why a decision was refused, at most once a second per request (floods stay cheap). */
  private publishRefusal(requestId: string | undefined, reason: string): void {
    const row = requestId ? this.table.get(requestId) : undefined;
    if (!row) return;
    const now = this.deps.clock.now();
    if (now - (this.lastRefusalStatus.get(row.id) ?? 0) < 1000) return;
    this.lastRefusalStatus.set(row.id, now);
    this.lifecycle.publishStatus(row.id, row.state, `decision refused: ${reason}`);
  }
}

/**
 * Sends approved evidence bundles with retries (PROTOCOL.md "Upload"), several requests at once so a
 * receiver that hangs holds up only its own. Its only input is the requests table, so an upload cut
 * off by a crash or reboot simply runs again after restart.
 */
import { iso } from '../clock.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AuditLog } from '../audit/index.js';
import type { ClipRecord } from '../store/index.js';
import type { Db } from '../store/database.js';
import { buildEvidenceBundle } from './bundle.js';
import { BundleError } from './bundle-writer.js';
import { checkDestination, DestinationError, type LookupFn } from './destination.js';
import type { RequestRow, RequestTable } from './request-table.js';
import { classifyUploadResult, putBundle, retryDelayMs, UploadError } from './upload.js';

export interface UploaderDeps {
  db: Db;
  table: RequestTable;
  clip(id: string): ClipRecord | undefined;
  audit: AuditLog;
  device: { id: string; publicKey: string; sign(message: Buffer): string };
  limits: {
    allowInsecureUploads: boolean;
    allowPrivateDestinations: boolean;
    maxAttempts: number;
    timeoutSeconds: number;
    stallSeconds: number;
    concurrency: number;
    maxBytes: number;
  };
  /** Whether an owner key has been revoked: its approvals stop counting, also for uploads under way. */
  keyRevoked(keyId: string): boolean;
  clock: Clock;
  log: Logger;
  lookup?: LookupFn | undefined;
  /** Called with the outcome; the request service publishes statuses and releases holds. */
  onProgress(row: RequestRow, sent: number, total: number): void;
  onUploading(row: RequestRow, attempt: number): void;
  onRetry(row: RequestRow, detail: string, nextAt: number): void;
  onDone(row: RequestRow, manifestSha256: string, bytes: number): void;
  onFailed(row: RequestRow, detail: string): void;
  onCancelled(row: RequestRow, detail: string): void;
}

export class Uploader {
  private timer: NodeJS.Timeout | null = null;
  /** Attempts in flight, by request id: each can be aborted on its own. */
  private readonly active = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private stopped = true;

  constructor(private readonly deps: UploaderDeps) {}

  start(): void {
    this.stopped = false;
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const running = [...this.active.values()];
    for (const a of running) a.abort.abort();
    await Promise.all(running.map((a) => a.done));
  }

  /** Starts due uploads now, up to `limits.concurrency` at once (after an approval, at start, when a retry is due). */
  kick(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    try {
      for (const row of this.due()) {
        if (this.active.size >= this.deps.limits.concurrency) break;
        if (!this.active.has(row.id)) this.launch(row);
      }
      this.scheduleNext();
    } catch (err) {
      // Runs from timers and promise callbacks: log, and look again in a minute.
      this.deps.log.error('could not start due uploads; will look again in 60 s', { error: (err as Error).message });
      this.timer = setTimeout(() => this.kick(), 60_000);
    }
  }

  /**
   * Stops a request's upload for good (the owner cancelled it, or the approving key was revoked):
   * an attempt in flight is aborted and no retry follows. False if it was not approved or uploading.
   */
  cancel(requestId: string, detail: string): boolean {
    const row = this.deps.table.get(requestId);
    if (!row || (row.state !== 'approved' && row.state !== 'uploading')) return false;
    this.active.get(requestId)?.abort.abort();
    this.deps.table.unschedule(requestId, this.deps.clock.now());
    this.deps.onCancelled(row, detail);
    return true;
  }

  private launch(row: RequestRow): void {
    const abort = new AbortController();
    const done = this.attempt(row, abort.signal)
      .catch((err: Error) => {
        // A bug here must not stall every later upload: fail this one loudly. A full disk may fail
        // that too; the row then stays as it was and is tried again at the next kick.
        this.deps.log.error('upload attempt crashed', { requestId: row.id, error: err.message });
        try {
          this.finishFailed(row, `internal error: ${err.message}`);
        } catch (again) {
          this.deps.log.error('could not record the failed upload', { requestId: row.id, error: (again as Error).message });
        }
      })
      .finally(() => {
        this.active.delete(row.id);
        this.kick();
      });
    this.active.set(row.id, { abort, done });
  }

  private due(): RequestRow[] {
    const now = this.deps.clock.now();
    return [...this.deps.table.inState('approved'), ...this.deps.table.inState('uploading')].filter(
      (r) => (r.nextAttemptAt ?? 0) <= now,
    );
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    const waiting = [...this.deps.table.inState('approved'), ...this.deps.table.inState('uploading')].filter((r) => !this.active.has(r.id));
    const next = Math.min(...waiting.map((r) => r.nextAttemptAt ?? 0));
    if (!Number.isFinite(next)) return;
    const delay = Math.max(0, next - this.deps.clock.now());
    this.timer = setTimeout(() => this.kick(), Math.min(delay, 2 ** 31 - 1));
  }

  private async attempt(row: RequestRow, signal: AbortSignal): Promise<void> {
    const { table, audit, clock, limits } = this.deps;
    const now = clock.now();
    if (now >= row.uploadExpiresAt) return this.finishFailed(row, 'the upload URL expired before the upload succeeded');
    // Revoked while the agent was down, or before this retry: the approval no longer counts.
    if (row.approval && this.deps.keyRevoked(row.approval.keyId)) {
      this.cancel(row.id, `cancelled: the approving key ${row.approval.keyId} was revoked`);
      return;
    }
    const attempt = row.attempts + 1;
    // One commit before the first byte (an fsync costs milliseconds on an SD card).
    this.deps.db.transaction(() => {
      table.setState(row.id, 'uploading', `attempt ${attempt}`, now);
      table.schedule(row.id, attempt, now, now);
      audit.append('upload-attempt', { requestId: row.id, attempt });
    })();
    this.deps.onUploading(row, attempt);

    let outcome: 'done' | 'retry' | 'fail';
    let detail: string;
    try {
      // Resolved and checked again at every attempt: DNS may have changed since the request arrived.
      const dest = await checkDestination(row.request.upload.url, {
        allowInsecure: limits.allowInsecureUploads,
        allowPrivate: limits.allowPrivateDestinations,
        ...(this.deps.lookup ? { lookup: this.deps.lookup } : {}),
      });
      const clips = row.approvedClipIds.map((id) => {
        const clip = this.deps.clip(id);
        if (!clip) throw new BundleError('clip-changed', `approved clip ${id} is no longer in the store`);
        return {
          id: clip.id,
          start: iso(clip.start),
          end: iso(clip.end),
          bytes: clip.bytes,
          sha256: clip.sha256,
          trigger: clip.kind,
          path: clip.path,
        };
      });
      const bundle = buildEvidenceBundle({
        device: this.deps.device.id,
        devicePublicKey: this.deps.device.publicKey,
        requestId: row.id,
        createdAt: iso(now),
        clips,
        approval: row.approval!,
        sign: (m) => this.deps.device.sign(m),
        log: audit.evidence(row.id),
      });
      if (bundle.length > limits.maxBytes) {
        return this.finishFailed(row, `bundle of ${bundle.length} bytes is over requests.upload.maxBytes (${limits.maxBytes})`);
      }
      const { status } = await putBundle(dest, bundle, {
        timeoutMs: limits.timeoutSeconds * 1000,
        stallMs: limits.stallSeconds * 1000,
        signal,
        onProgress: (sent, total) => this.deps.onProgress(row, sent, total),
      });
      if (signal.aborted) return; // cancelled or stopping as the answer came in: decided elsewhere
      outcome = classifyUploadResult(status);
      detail = `HTTP ${status}`;
      if (outcome === 'done') {
        audit.append('upload-result', { requestId: row.id, attempt, ok: true, status, manifestSha256: bundle.manifest.sha256, bytes: bundle.length });
        this.deps.onDone(row, bundle.manifest.sha256, bundle.length);
        return;
      }
    } catch (err) {
      // Stopping: the row stays 'uploading' and resumes at next start. Cancelled: already closed.
      if (this.stopped || signal.aborted) return;
      if (err instanceof DestinationError) {
        outcome = err.reason === 'unresolvable' ? 'retry' : 'fail';
        detail = `destination refused: ${err.message}`;
      } else if (err instanceof BundleError) {
        outcome = 'fail';
        detail = err.message;
      } else if (err instanceof UploadError) {
        outcome = classifyUploadResult(err);
        detail = err.message;
      } else throw err;
    }
    audit.append('upload-result', { requestId: row.id, attempt, ok: false, outcome, detail });
    if (outcome === 'fail') return this.finishFailed(row, detail);
    const nextAt = clock.now() + retryDelayMs(attempt);
    if (attempt >= limits.maxAttempts) return this.finishFailed(row, `${detail}; gave up after ${attempt} attempts`);
    if (nextAt >= row.uploadExpiresAt) return this.finishFailed(row, `${detail}; the upload URL expires before the next attempt`);
    table.schedule(row.id, attempt, nextAt, clock.now());
    this.deps.onRetry(row, `${detail}; attempt ${attempt + 1} at ${iso(nextAt)}`, nextAt);
  }

  private finishFailed(row: RequestRow, detail: string): void {
    this.deps.table.unschedule(row.id, this.deps.clock.now());
    this.deps.onFailed(row, detail);
  }
}

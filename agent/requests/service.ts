/**
 * The request lifecycle of PROTOCOL.md, wired from one handler per message kind: intake
 * (intake.ts), signed decisions (decisions.ts), and expiry/status/receipts (lifecycle.ts). Nothing
 * here approves anything by itself: the only way to `approved` is a decision that verifyDecision accepted.
 * Owners' messages arrive through the sealed owner channel (decisions, asks answered by owner-sync.ts).
 */
import { EventEmitter } from 'node:events';
import { encodeGeohash, geohashNeighbours } from './geohash.js';
import { parseVerifierKey } from '../tlog/index.js';
import { BoardMirror } from './board-mirror.js';
import { DecisionHandler } from './decisions.js';
import { RequestIntake } from './intake.js';
import { RequestLifecycle } from './lifecycle.js';
import { NoticeBook } from './notice.js';
import { OwnerSync } from './owner-sync.js';
import type { RequestServiceDeps } from './request-context.js';
import { RequestTable, type RequestState } from './request-table.js';
import { Uploader } from './uploader.js';
import { HoldLimit } from './hold-limit.js';

export { holderFor, type ClipAccess, type Messaging, type RequestServiceDeps } from './request-context.js';

export class RequestService extends EventEmitter<{
  changed: [];
  'upload-progress': [{ requestId: string; sentBytes: number; totalBytes: number }];
}> {
  private readonly table: RequestTable;
  private readonly uploader: Uploader;
  private readonly holdLimit: HoldLimit;
  private readonly lifecycle: RequestLifecycle;
  private readonly intake: RequestIntake;
  private readonly decisions: DecisionHandler;
  private readonly mirror: BoardMirror | undefined;
  private readonly sync: OwnerSync;

  constructor(private readonly deps: RequestServiceDeps) {
    super();
    this.table = new RequestTable(deps.db);
    const changed = (): void => {
      this.holdLimit?.schedule();
      this.emit('changed');
    };
    const notices = new NoticeBook(deps.db);
    this.lifecycle = new RequestLifecycle(deps, this.table, notices, changed);
    const board = deps.config.policy.board;
    this.mirror = board
      ? new BoardMirror({
          db: deps.db,
          key: parseVerifierKey(board.publicKey),
          url: board.url,
          pollMs: board.pollSeconds * 1000,
          audit: deps.audit,
          log: deps.log,
        })
      : undefined;
    this.intake = new RequestIntake(deps, this.table, this.lifecycle, changed, this.mirror);
    this.mirror?.onSynced(() => this.intake.recheckWaiting());
    this.sync = new OwnerSync(deps, this.table, notices, this.lifecycle);
    this.decisions = new DecisionHandler(
      deps,
      this.table,
      notices,
      this.lifecycle,
      () => {
        changed();
        this.uploader.kick();
      },
      (id, detail) => this.uploader.cancel(id, detail),
    );
    const u = deps.config.requests;
    this.uploader = new Uploader({
      db: deps.db,
      table: this.table,
      clip: (id) => deps.clips.get(id),
      audit: deps.audit,
      device: deps.device,
      limits: {
        allowInsecureUploads: u.allowInsecureUploads,
        allowPrivateDestinations: u.allowPrivateDestinations,
        maxAttempts: u.upload.maxAttempts,
        timeoutSeconds: u.upload.timeoutSeconds,
        stallSeconds: u.upload.stallSeconds,
        concurrency: u.upload.concurrency,
        maxBytes: u.upload.maxBytes,
      },
      keyRevoked: (keyId) => deps.owners.keyStatus(keyId) === 'revoked',
      clock: deps.clock,
      log: deps.log,
      lookup: deps.lookup,
      // Reliable, so it goes out after `approved` (the outbox keeps order); progress only once that queue is empty.
      onUploading: (row, attempt) => this.lifecycle.publishStatus(row.id, 'uploading', `attempt ${attempt}`),
      onProgress: (row, sent, total) => {
        this.emit('upload-progress', { requestId: row.id, sentBytes: sent, totalBytes: total });
        this.lifecycle.publishStatus(row.id, 'uploading', 'sending', { latest: true, progress: { sentBytes: sent, totalBytes: total } });
      },
      onRetry: (row, detail) => this.lifecycle.publishStatus(row.id, 'uploading', detail),
      onDone: (row, manifestSha256) => this.lifecycle.finishUploaded(row, manifestSha256),
      onFailed: (row, detail) => this.lifecycle.close(row.id, 'failed', detail),
      onCancelled: (row, detail) => this.lifecycle.close(row.id, 'cancelled', detail),
    });
    this.holdLimit = new HoldLimit({
      maxHoldDays: u.maxHoldDays,
      holding: () => (['pending', 'approved', 'uploading'] as RequestState[]).flatMap((s) => this.table.inState(s)),
      release: (row, detail) => {
        if (row.state === 'pending') this.lifecycle.close(row.id, 'expired', detail);
        else this.uploader.cancel(row.id, detail);
      },
      clock: deps.clock,
      log: deps.log,
    });
  }

  async start(): Promise<void> {
    const { mqtt, topics, config } = this.deps;
    this.table.start();
    this.lifecycle.start();
    this.mirror?.start();
    await mqtt.subscribe(topics.request, (topic, payload) => this.intake.enqueue(topic, 'direct', payload));
    if (config.device.location) {
      const cell = encodeGeohash(config.device.location.lat, config.device.location.lon, 5);
      for (const hash of [cell, ...geohashNeighbours(cell)]) {
        await mqtt.subscribe(topics.areaRequest(hash), (topic, payload) => this.intake.enqueue(topic, 'area', payload));
      }
    }
    this.deps.owner.on('decision', (message) => this.decisions.handle(message));
    this.deps.owner.on('ask', (message) => this.sync.answer(message));
    this.uploader.start();
    this.holdLimit.start();
  }

  async stop(): Promise<void> {
    this.intake.stop();
    this.sync.stop();
    this.holdLimit.stop();
    this.lifecycle.stop();
    this.mirror?.stop();
    await this.uploader.stop();
  }

  /** An owner key was revoked: the uploads it approved stop (audited as closed, state `cancelled`). */
  keyRevoked(keyId: string): void {
    for (const row of [...this.table.inState('approved'), ...this.table.inState('uploading')]) {
      if (row.approval?.keyId === keyId) this.uploader.cancel(row.id, `cancelled: the approving key ${keyId} was revoked`);
    }
  }

  pendingIds(): string[] {
    return this.table.inState('pending').map((r) => r.id);
  }
}

/**
 * The answer to an owner's `ask` (protocol.md "Freshness"): what is waiting for a decision, bound to
 * the owner's nonce, then each pending notice resent unchanged and the latest state of every open
 * request. Owners never depend on retained messages, which clustered brokers lose or withhold.
 */
import { isTimely, type OpenedMessage } from '../envelope/index.js';
import type { RequestLifecycle } from './lifecycle.js';
import type { NoticeBook } from './notice.js';
import type { RequestServiceDeps } from './request-context.js';
import type { RequestRow, RequestTable } from './request-table.js';

/**
 * An owner key gets at most one answer a second: asks are cheap to send, answers are not. An ask
 * within that second is answered when it is up (the newest one only), never dropped: a broker may
 * deliver an old ask again (QoS 1 is at least once) just before the owner's new one.
 */
const MIN_ASK_INTERVAL_MS = 1000;
const NONCE = /^[A-Za-z0-9_-]{22,256}$/;
const RECENT_MS = 24 * 3600_000;
const RECENT_LIMIT = 100;

export class OwnerSync {
  private readonly lastAnswer = new Map<string, number>();
  private readonly later = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly deps: RequestServiceDeps,
    private readonly table: RequestTable,
    private readonly notices: NoticeBook,
    private readonly lifecycle: RequestLifecycle,
  ) {}

  async answer(message: OpenedMessage): Promise<void> {
    const { clock, owner, audit } = this.deps;
    const now = clock.now();
    const nonce = message.body.nonce;
    if (typeof nonce !== 'string' || !NONCE.test(nonce) || !isTimely(message.at, now)) {
      audit.appendRefusal(owner.inTopic, 'untimely-ask', { keyId: message.keyId });
      return;
    }
    const wait = (this.lastAnswer.get(message.keyId) ?? -Infinity) + MIN_ASK_INTERVAL_MS - now;
    if (wait > 0) return this.answerLater(message, wait);
    this.lastAnswer.set(message.keyId, now);
    this.lifecycle.signMissingNotices();
    // Listed when the answer takes its seq: a notice sealed before it (a lower seq) is kept by then.
    let pending: { row: RequestRow; notice: { plaintext: Uint8Array; sha256: string } }[] = [];
    await owner.send(() => {
      pending = this.table.inState('pending').flatMap((row) => {
        const notice = this.notices.get(row.id);
        return notice ? [{ row, notice }] : [];
      });
      return { kind: 'pending', re: nonce, requests: pending.map(({ row, notice }) => ({ requestId: row.id, noticeSha256: notice.sha256 })) };
    });
    for (const { notice } of pending) await owner.resend(notice.plaintext);
    // Open requests, and those closed in the last day: an owner who was away learns how they ended.
    const recent = this.table.list(RECENT_LIMIT).filter((row) => row.terminalAt === null || row.terminalAt >= now - RECENT_MS);
    for (const row of recent.reverse()) {
      await owner.send({ kind: 'status', requestId: row.id, state: row.state, detail: row.detail });
    }
  }

  stop(): void {
    for (const timer of this.later.values()) clearTimeout(timer);
    this.later.clear();
  }

  private answerLater(message: OpenedMessage, waitMs: number): void {
    clearTimeout(this.later.get(message.keyId));
    const timer = setTimeout(() => {
      this.later.delete(message.keyId);
      this.answer(message).catch((err: Error) => this.deps.log.error('answering an ask failed', { error: err.message }));
    }, waitMs);
    this.later.set(message.keyId, timer);
  }
}

/**
 * What an owner's app or terminal believes the device said (protocol.md "Freshness"): opens each
 * message (sealed to this owner, signed by the paired device for the topic it arrived on), refuses
 * older copies per stream, and shows a notice as waiting only when the device listed it in its
 * answer to this reader's own ask, or sent it after that answer. The phone app and the CLI share it.
 */
import { fromB64url } from './bytes.js';
import { EnvelopeError } from './envelope.js';
import { openMessage, type OpenedMessage } from './message.js';
import { parseNotice, parsePending, parseStatus, type Notice } from './owner-messages.js';
import { SeqGuard } from './replay.js';
import type { AgeIdentity } from './seal.js';

export interface ShownNotice {
  notice: Notice;
  /** SHA-256 of the notice's exact sealed plaintext: what a decision binds. */
  sha256: string;
}

export type Received =
  | { ok: true; message: OpenedMessage }
  /** `movedFrom`: the device signed it for that topic, and someone put it on this one. */
  | { ok: false; reason: string; detail: string; movedFrom?: string };

export interface InboxOptions {
  identities: readonly AgeIdentity[];
  device: { keyId: string; signingKey: string };
  /** The device's owner topics this reader hears (out, snapshot): a message moved between them is named as moved. */
  topics?: readonly string[];
  /** The highest seq per stream seen earlier (a phone keeps it across reloads). */
  seen?: Record<string, number>;
}

export class OwnerInbox {
  private readonly guard: SeqGuard;
  private readonly notices = new Map<string, ShownNotice & { seq: number }>();
  private answered: { seq: number; listed: Map<string, string> } | undefined;
  /** The nonces of this reader's own asks: only an answer to one of them says what waits. */
  private readonly nonces = new Set<string>();

  constructor(private readonly opts: InboxOptions) {
    this.guard = new SeqGuard(opts.seen);
  }

  /** Before sending an ask: its answer (and only an answer to one of this reader's asks) counts. */
  asking(nonce: string): void {
    this.nonces.add(nonce);
  }

  /** True once the device answered one of this reader's asks. */
  get synced(): boolean {
    return this.answered !== undefined;
  }

  async receive(topic: string, payload: Uint8Array): Promise<Received> {
    let m: OpenedMessage;
    try {
      m = await openMessage(payload, topic, {
        identities: this.opts.identities,
        keyFor: (keyId) => (keyId === this.opts.device.keyId ? fromB64url(this.opts.device.signingKey) : undefined),
        elsewhere: this.opts.topics ?? [],
      });
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      return { ok: false, reason: err.reason, detail: err.message, ...(err.signedFor ? { movedFrom: err.signedFor } : {}) };
    }
    if (m.seq === undefined) return { ok: false, reason: 'bad-body', detail: 'a device message without seq' };
    const requestId = typeof m.body.requestId === 'string' ? `:${m.body.requestId}` : '';
    const stream = m.kind === 'notice' || m.kind === 'status' ? `${m.kind}${requestId}` : m.kind;
    if (this.guard.check(stream, m.seq) === 'stale') {
      return {
        ok: false,
        reason: 'stale',
        detail:
          m.kind === 'notice'
            ? `a notice (seq ${m.seq}) of a request the doorbell has decided or closed since: a replayed copy`
            : `an older ${m.kind} (seq ${m.seq}) than one already seen: a replayed copy`,
      };
    }
    this.guard.accept(stream, m.seq);
    try {
      this.track(m);
    } catch (err) {
      return { ok: false, reason: 'bad-body', detail: (err as Error).message };
    }
    return { ok: true, message: m };
  }

  /** The notice of `requestId` if it waits for a decision as far as this owner knows. */
  shown(requestId: string): ShownNotice | undefined {
    const n = this.notices.get(requestId);
    if (!n || !this.answered) return undefined;
    const listed = this.answered.listed.get(requestId);
    return listed === n.sha256 || (listed === undefined && n.seq > this.answered.seq) ? { notice: n.notice, sha256: n.sha256 } : undefined;
  }

  /** Every notice waiting, oldest first. */
  waiting(): ShownNotice[] {
    return [...this.notices.keys()].flatMap((id) => this.shown(id) ?? []);
  }

  /** What to keep across reloads: the highest seq per stream. */
  seen(): Record<string, number> {
    return this.guard.toJSON();
  }

  private track(m: OpenedMessage): void {
    if (m.kind === 'notice') {
      const notice = parseNotice(m.body);
      this.notices.set(notice.requestId, { notice, sha256: m.sha256, seq: m.seq! });
    } else if (m.kind === 'pending') {
      const answer = parsePending(m.body);
      // Another reader's answer (or an old one replayed to a reader that just started) says nothing about now.
      if (this.nonces.has(answer.re) && (!this.answered || m.seq! > this.answered.seq)) {
        this.answered = { seq: m.seq!, listed: new Map(answer.requests.map((r) => [r.requestId, r.noticeSha256])) };
      }
    } else if (m.kind === 'status') {
      const status = parseStatus(m.body);
      if (status.state !== 'pending') {
        this.answered?.listed.delete(status.requestId);
        this.notices.delete(status.requestId);
        // Its notice is older than this status: a copy of it from now on is a replay (kept across reloads).
        this.guard.accept(`notice:${status.requestId}`, m.seq!);
      }
    }
  }
}

/**
 * The device's side of "prove your history extends the one I saw" (docs/protocol.md "Audit log and
 * transparency"): an owner app asks for the consistency proof between two tree sizes and checks it
 * against the two signed checkpoints it holds. A proof cannot be forged, so the channel needs no
 * secrecy; answers are rate-limited so asking cannot keep the device busy.
 */
import type { Logger } from '../log.js';
import { base64Encode } from '../tlog/index.js';
import type { AuditLog } from './audit-log.js';

export interface ConsistencyAsk {
  oldSize: number;
  newSize: number;
}

export type ConsistencyAnswer =
  | { v: 2; oldSize: number; newSize: number; proof: string[] }
  | { v: 2; oldSize: number; newSize: number; error: string };

/** The sizes of an ask, from a parsed body; throws saying what is wrong. */
export function consistencyAskOf(json: unknown): ConsistencyAsk {
  const j = json as Record<string, unknown> | null;
  const size = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!j || j.v !== 2 || !size(j.oldSize) || !size(j.newSize)) throw new Error('the ask needs "v":2 and whole-number oldSize and newSize');
  return { oldSize: j.oldSize as number, newSize: j.newSize as number };
}

export function parseConsistencyAsk(payload: Buffer): ConsistencyAsk {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new Error('the ask is not JSON');
  }
  return consistencyAskOf(json);
}

export function answerConsistencyAsk(audit: AuditLog, ask: ConsistencyAsk): ConsistencyAnswer {
  const { oldSize, newSize } = ask;
  const size = audit.treeHead().size;
  if (oldSize > newSize || newSize > size) {
    return { v: 2, oldSize, newSize, error: `no proof from ${oldSize} to ${newSize} entries: the log holds ${size}` };
  }
  return { v: 2, oldSize, newSize, proof: audit.consistencyProof(oldSize, newSize).map(base64Encode) };
}

/** At most `perMinute` answers in any minute; the rest are dropped (the app asks again later). */
export class AnswerBudget {
  private readonly times: number[] = [];

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number,
  ) {}

  take(): boolean {
    const now = this.now();
    while (this.times.length && this.times[0]! <= now - 60_000) this.times.shift();
    if (this.times.length >= this.perMinute) return false;
    this.times.push(now);
    return true;
  }
}

export interface AuditProofServiceDeps {
  audit: AuditLog;
  /** The sealed owner channel: `audit-ask` in, `audit-proof` out. */
  channel: {
    on(kind: string, handler: (message: { body: Record<string, unknown> }) => void | Promise<void>): void;
    send(fields: Record<string, unknown> & { kind: string }): Promise<unknown>;
  };
  /** The clear topics the protocol-1 phone app asks on. */
  mqtt: {
    subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void>;
    publishLatest(topic: string, payload: string): Promise<void>;
  };
  topics: { auditAsk: string; auditProof: string };
  clock: { now(): number };
  log: Logger;
}

/** Answers owners' audit asks: consistency proofs (owner channel and the clear protocol-1 topics) and the transparency report (owner channel only). */
export class AuditProofService {
  private readonly budget: AnswerBudget;

  constructor(private readonly deps: AuditProofServiceDeps) {
    this.budget = new AnswerBudget(30, () => deps.clock.now());
  }

  async start(): Promise<void> {
    const { channel, mqtt, topics, log } = this.deps;
    channel.on('audit-ask', async (message) => {
      const answer = this.answer(() => consistencyAskOf({ ...message.body, v: 2 }));
      if (answer) await channel.send({ kind: 'audit-proof', ...answer, v: 2 });
    });
    // The report names requesters and counts decisions: it goes only to owners, sealed.
    channel.on('report-ask', async (message) => {
      if (!this.budget.take()) return log.warn('report ask dropped: more than 30 in a minute');
      const since = typeof message.body.since === 'string' && Number.isFinite(Date.parse(message.body.since)) ? message.body.since : undefined;
      await channel.send({ kind: 'report', report: this.deps.audit.report(since) as unknown as Record<string, unknown> });
    });
    await mqtt.subscribe(topics.auditAsk, (_topic, payload) => {
      const answer = this.answer(() => parseConsistencyAsk(payload));
      if (answer) mqtt.publishLatest(topics.auditProof, JSON.stringify(answer)).catch((err: Error) => log.warn('audit proof not sent', { error: err.message }));
    });
  }

  private answer(parse: () => ConsistencyAsk): ConsistencyAnswer | undefined {
    if (!this.budget.take()) {
      this.deps.log.warn('audit proof ask dropped: more than 30 in a minute');
      return undefined;
    }
    try {
      return answerConsistencyAsk(this.deps.audit, parse());
    } catch (err) {
      this.deps.log.warn('audit proof ask refused', { error: (err as Error).message });
      return undefined;
    }
  }
}

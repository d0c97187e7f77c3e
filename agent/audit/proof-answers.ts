/**
 * The device's side of "prove your history extends the one I saw" (docs/protocol.md "Audit log and
 * transparency"): an owner app asks for the consistency proof between two tree sizes and checks it
 * against the two signed checkpoints it holds. A proof cannot be forged, so the channel needs no
 * secrecy; answers are rate-limited so asking cannot keep the device busy.
 */
import { base64Encode } from '../tlog/index.js';
import type { AuditLog } from './audit-log.js';

export interface ConsistencyAsk {
  oldSize: number;
  newSize: number;
}

export type ConsistencyAnswer =
  | { v: 2; oldSize: number; newSize: number; proof: string[] }
  | { v: 2; oldSize: number; newSize: number; error: string };

export function parseConsistencyAsk(payload: Buffer): ConsistencyAsk {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new Error('the ask is not JSON');
  }
  const j = json as Record<string, unknown> | null;
  const size = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!j || j.v !== 2 || !size(j.oldSize) || !size(j.newSize)) throw new Error('the ask needs "v":2 and whole-number oldSize and newSize');
  return { oldSize: j.oldSize as number, newSize: j.newSize as number };
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

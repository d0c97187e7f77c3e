/**
 * An owner's decision that gets no answer may have been lost (protocol.md "Decision"): the phone app
 * and the CLI send the same sealed bytes again after 15 s of silence, up to three sends in all. The
 * nonce inside makes a copy harmless: the device acts on one and refuses the others as `replayed-nonce`.
 */
import type { RequestStatus } from './owner-messages.js';

export const RESEND_AFTER_MS = 15_000;
export const MAX_DECISION_SENDS = 3;

export interface ResendOptions {
  /** Publishes the very bytes of the first send again. */
  send: () => Promise<void>;
  /** True once the doorbell answered the decision. */
  answered: () => boolean;
  afterMs?: number;
  /** Before each resend, with the number of sends it makes. */
  onResend?: (sends: number) => void;
  onSendError?: (err: Error) => void;
  /** The last send got no answer within `afterMs` either. */
  onSilent?: (sends: number) => void;
}

/** Call right after the first send; returns a function that stops it. */
export function resendWhileUnanswered(opts: ResendOptions): () => void {
  const afterMs = opts.afterMs ?? RESEND_AFTER_MS;
  let sends = 1;
  const tick = (): void => {
    if (opts.answered()) return;
    if (sends >= MAX_DECISION_SENDS) return opts.onSilent?.(sends);
    sends++;
    opts.onResend?.(sends);
    opts.send().catch((err: Error) => opts.onSendError?.(err));
    timer = setTimeout(tick, afterMs);
  };
  let timer = setTimeout(tick, afterMs);
  return () => clearTimeout(timer);
}

/** Why the device refused a decision, when this status is its answer to one (`decision refused: <reason>`). */
export function decisionRefusal(status: Pick<RequestStatus, 'detail'>): string | undefined {
  const prefix = 'decision refused:';
  return status.detail?.startsWith(prefix) ? status.detail.slice(prefix.length).trim() : undefined;
}

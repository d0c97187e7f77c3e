/**
 * The device's side of pairing (protocol.md "Pairing"). A window is open for 120 s with a fresh
 * 10-digit code after the button's long press or `doorbell pair`, or, on a headless install that
 * never had an owner, with the 16-digit setup code. Every hello costs the prover one online guess,
 * so hellos are rate-limited (a token bucket); wrong guesses and wrong confirmations are refused
 * and audited but never close the window. A valid confirmation is enrolled after a short settling
 * time; a second valid one in that time means the code leaked: the pairing is aborted and audited.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import {
  answerHello,
  checkConfirm,
  generateCode,
  makeResult,
  PAIRING_CODE_DIGITS,
  PairingMessageError,
  pairingReplyTopic,
  parseMessage,
  type DeviceKeys,
  type DeviceSession,
  type PairingOffer,
  type PairingOutcome,
} from './protocol.js';

/** Answered hellos (guesses) per second, and the burst allowed after a quiet spell. */
export const GUESSES_PER_SECOND = 20;
export const GUESS_BURST = 20;
const WINDOW_SECONDS = 120;
const SETTLE_MS = 3000;
/** Unconfirmed sessions kept at most (a setup window has no end): the oldest go first. */
const MAX_SESSIONS = 4096;

export interface PairingWindowDeps {
  clock: Clock;
  log: Logger;
  /** MQTT topic prefix and the device's keys, for the reply topics and ADb. */
  prefix: string;
  device(): DeviceKeys;
  /** Publishes a reply (QoS 1, not retained). */
  publish(topic: string, payload: string): void;
  /** Enrolls the verified offer; throws when the registry refuses it. */
  enroll(offer: PairingOffer): { keyId: string };
  /** Appends an audit entry. */
  audit(type: string, data: Record<string, unknown>): void;
  /** Audits a refused pairing message (folded into bursts by the audit log). */
  refuse(reason: string, data: Record<string, unknown>): void;
  random?: (length: number) => Uint8Array;
  windowSeconds?: number;
  settleMs?: number;
  guessesPerSecond?: number;
  guessBurst?: number;
}

export interface PairingOpened {
  code: string;
  /** Infinity for a setup-code window. */
  expiresAt: number;
  setup: boolean;
}

export type PairingCloseReason = 'enrolled' | 'aborted' | 'expired' | 'reopened' | 'failed' | 'stopped';

/** What one message did, for logs and tests. */
export type PairingStep =
  | { step: 'answered'; sid: string; keyId: string }
  | { step: 'confirmed'; sid: string; keyId: string }
  | { step: 'ignored'; reason: 'duplicate' }
  | { step: 'refused'; reason: 'closed' | 'bad-message' | 'rate-limited' | 'unknown-session' | 'wrong-code'; detail?: string }
  | { step: 'aborted'; keyIds: string[] };

interface OpenWindow extends PairingOpened {
  sessions: Map<string, DeviceSession>;
  tokens: number;
  refilledAt: number;
  pending?: { session: DeviceSession; timer: NodeJS.Timeout };
  timer?: NodeJS.Timeout;
}

export class PairingWindow extends EventEmitter<{ opened: [PairingOpened]; closed: [PairingCloseReason]; enrolled: [{ keyId: string }] }> {
  private window: OpenWindow | undefined;

  constructor(private readonly deps: PairingWindowDeps) {
    super();
  }

  /** Opens a 120 s window with a fresh code; an open one is replaced and its code no longer works. */
  open(): PairingOpened {
    const code = generateCode(PAIRING_CODE_DIGITS, this.random);
    const ms = (this.deps.windowSeconds ?? WINDOW_SECONDS) * 1000;
    return this.start(code, this.deps.clock.now() + ms, ms);
  }

  /** Opens a window without an end for the install's setup code (only while no owner was ever enrolled). */
  openSetup(code: string): PairingOpened {
    return this.start(code, Infinity, undefined);
  }

  isOpen(): boolean {
    return this.window !== undefined && this.deps.clock.now() < this.window.expiresAt;
  }

  get current(): PairingOpened | undefined {
    const w = this.window;
    return w && { code: w.code, expiresAt: w.expiresAt, setup: w.setup };
  }

  close(reason: PairingCloseReason): void {
    const w = this.window;
    if (!w) return;
    clearTimeout(w.timer);
    if (w.pending) clearTimeout(w.pending.timer);
    this.window = undefined;
    this.deps.log.info('pairing window closed', { reason, setup: w.setup });
    this.emit('closed', reason);
  }

  stop(): void {
    this.close('stopped');
  }

  /** Handles one message from the pairing topic. */
  handle(payload: Uint8Array): PairingStep {
    const w = this.window;
    if (!w || this.deps.clock.now() >= w.expiresAt) {
      if (w && !w.pending) this.close('expired');
      return this.refused({ step: 'refused', reason: 'closed' });
    }
    let message;
    try {
      message = parseMessage(payload);
    } catch (err) {
      if (!(err instanceof PairingMessageError)) throw err;
      return this.refused({ step: 'refused', reason: 'bad-message', detail: err.message });
    }
    if (message.type === 'hello') {
      if (w.sessions.has(message.sid)) return this.duplicate();
      if (!this.takeToken(w)) return this.refused({ step: 'refused', reason: 'rate-limited' });
      let answered;
      try {
        answered = answerHello(message, w.code, this.deps.device(), this.random);
      } catch (err) {
        if (!(err instanceof PairingMessageError)) throw err;
        return this.refused({ step: 'refused', reason: 'bad-message', detail: err.message });
      }
      w.sessions.set(message.sid, answered.session);
      if (w.sessions.size > MAX_SESSIONS) w.sessions.delete(w.sessions.keys().next().value!);
      this.reply(answered.session, 'answer', JSON.stringify(answered.answer));
      return { step: 'answered', sid: message.sid, keyId: answered.session.keyId };
    }
    if (message.type !== 'confirm') return this.refused({ step: 'refused', reason: 'bad-message', detail: `a device does not take ${message.type}` });
    const session = w.sessions.get(message.sid);
    if (!session) return this.refused({ step: 'refused', reason: 'unknown-session' });
    if (w.pending?.session === session) return this.duplicate();
    // A wrong tag leaves the session in place: someone else's bad confirm must not cancel the owner's.
    if (!checkConfirm(session, message)) return this.refused({ step: 'refused', reason: 'wrong-code' });
    if (w.pending) return this.abort(w, [w.pending.session, session]);
    const timer = setTimeout(() => this.commit(session), this.deps.settleMs ?? SETTLE_MS);
    w.pending = { session, timer };
    this.deps.log.info('pairing confirmed; enrolling once no second phone confirms', { keyId: session.keyId });
    return { step: 'confirmed', sid: session.sid, keyId: session.keyId };
  }

  private start(code: string, expiresAt: number, ms: number | undefined): PairingOpened {
    if (this.window) this.close('reopened');
    const setup = ms === undefined;
    const burst = this.deps.guessBurst ?? GUESS_BURST;
    const w: OpenWindow = { code, expiresAt, setup, sessions: new Map(), tokens: burst, refilledAt: this.deps.clock.now() };
    if (ms !== undefined) {
      // Closes on time for the LED; handle() checks the clock itself. A pending enrollment finishes first.
      w.timer = setTimeout(() => this.window === w && !w.pending && this.close('expired'), ms);
      w.timer.unref();
    }
    this.window = w;
    // The code itself is never logged: it goes only to whoever opened the window.
    this.deps.log.info(setup ? 'pairing open with the setup code until an owner is enrolled' : `pairing window open for ${ms! / 1000} s`);
    this.emit('opened', { code, expiresAt, setup });
    return { code, expiresAt, setup };
  }

  private takeToken(w: OpenWindow): boolean {
    const now = this.deps.clock.now();
    const rate = this.deps.guessesPerSecond ?? GUESSES_PER_SECOND;
    const burst = this.deps.guessBurst ?? GUESS_BURST;
    w.tokens = Math.min(burst, w.tokens + ((now - w.refilledAt) / 1000) * rate);
    w.refilledAt = now;
    if (w.tokens < 1) return false;
    w.tokens -= 1;
    return true;
  }

  private commit(session: DeviceSession): void {
    const w = this.window;
    if (!w || w.pending?.session !== session) return;
    let keyId: string;
    try {
      keyId = this.deps.enroll(session.offer).keyId;
    } catch (err) {
      this.deps.log.warn('pairing: the doorbell could not enroll the key', { keyId: session.keyId, error: (err as Error).message });
      this.deps.refuse('enrollment-failed', { keyId: session.keyId, detail: (err as Error).message });
      this.sendResult(session, 'aborted');
      this.close('failed');
      return;
    }
    this.sendResult(session, 'enrolled');
    this.emit('enrolled', { keyId });
    this.close('enrolled');
  }

  private abort(w: OpenWindow, sessions: DeviceSession[]): PairingStep {
    const keyIds = sessions.map((s) => s.keyId);
    this.deps.log.warn('pairing aborted: two phones proved the same code (it leaked); nobody was enrolled', { keyIds });
    this.deps.audit('pairing-aborted', { reason: 'second valid offer', setup: w.setup, offers: sessions.map((s) => ({ keyId: s.keyId, name: s.offer.name })) });
    for (const s of sessions) this.sendResult(s, 'aborted');
    this.close('aborted');
    return { step: 'aborted', keyIds };
  }

  private sendResult(session: DeviceSession, outcome: PairingOutcome): void {
    this.reply(session, 'result', JSON.stringify(makeResult(session, outcome)));
  }

  private reply(session: DeviceSession, kind: 'answer' | 'result', payload: string): void {
    this.deps.publish(pairingReplyTopic(this.deps.prefix, this.deps.device().deviceId, session.keyId, kind), payload);
  }

  /** A copy of a message already handled (an MQTT redelivery or a replay): changes nothing, but is counted like any refusal. */
  private duplicate(): PairingStep {
    this.deps.refuse('duplicate', {});
    return { step: 'ignored', reason: 'duplicate' };
  }

  private refused(step: Extract<PairingStep, { step: 'refused' }>): PairingStep {
    this.deps.refuse(step.reason, step.detail ? { detail: step.detail } : {});
    return step;
  }

  private get random(): (length: number) => Uint8Array {
    return this.deps.random ?? ((n) => new Uint8Array(randomBytes(n)));
  }
}

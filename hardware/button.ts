/**
 * The doorbell push button, over any DigitalInput (every backend gets the same behaviour).
 *
 * Debounce: after an edge the level must stay unchanged for `debounceMs` before it counts, so a
 * contact-bounce burst (many edges within a few ms) makes one press. The press is stamped with the
 * time of the burst's FIRST edge — when the finger hit the button — so the clip's pre-roll is
 * measured from the real press, not from the end of the bounce.
 *
 * Press and long press: a doorbell must ring at once, so `press` is emitted as soon as the press is
 * debounced, without waiting to learn how long it will be held. If the button is still held
 * `longPressSeconds` after the press, `long-press` follows (once, while still held): a long press
 * (which opens pairing) has therefore also rung once. `release` comes when the button is let go.
 */
import { systemClock, type Clock } from '../agent/clock.js';
import { Emitter } from './emitter.js';
import type { DigitalInput, Edge, Level } from './gpio.js';

export type ButtonEvents = {
  press: { at: number };
  release: { at: number; heldMs: number };
  'long-press': { at: number };
};

export interface ButtonDeps {
  input: DigitalInput;
  debounceMs: number;
  longPressSeconds?: number;
  clock?: Clock;
}

export class Button extends Emitter<ButtonEvents> {
  /** The debounced logical level. */
  private level: Level = 0;
  private lastEdge: Level = 0;
  private lastEdgeAt = 0;
  /** First edge of the burst being debounced, or null when the line is quiet. */
  private burstAt: number | null = null;
  /** Time of the current press; null when released, or held since before start (not a press). */
  private pressedAt: number | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private longTimer: NodeJS.Timeout | null = null;
  /** The long-press time came while a burst was pending: it may be the release, so settle decides. */
  private longPending = false;
  private readonly onEdge = (edge: Edge): void => this.edge(edge);

  constructor(private readonly deps: ButtonDeps) {
    super();
  }

  /** Starts the input (the button owns it) and follows its edges. */
  async start(): Promise<void> {
    await this.deps.input.start();
    this.level = this.lastEdge = this.deps.input.read();
    this.deps.input.on('edge', this.onEdge);
  }

  async stop(): Promise<void> {
    this.deps.input.off('edge', this.onEdge);
    this.clearTimers();
    await this.deps.input.stop();
  }

  private edge({ value, at }: Edge): void {
    // Debounce by the edges' own timestamps: when a busy event loop delivers a whole press and
    // release at once, the level between them still counts if it was stable for debounceMs.
    if (this.burstAt !== null && at - this.lastEdgeAt >= this.deps.debounceMs) {
      if (this.settleTimer) clearTimeout(this.settleTimer);
      this.settle();
    }
    this.lastEdge = value;
    this.lastEdgeAt = at;
    this.burstAt ??= at;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.settle(), this.deps.debounceMs);
  }

  private settle(): void {
    this.settleTimer = null;
    const at = this.burstAt!;
    this.burstAt = null;
    if (this.lastEdge === this.level) {
      // A glitch that came back to where it was: no change, but a long press it delayed is now due.
      if (this.longPending) this.emitLongPress();
      return;
    }
    this.level = this.lastEdge;
    if (this.level === 1) {
      this.pressedAt = at;
      this.emit('press', { at });
      const delay = at + this.longPressMs - (this.deps.clock ?? systemClock).now();
      this.longTimer = setTimeout(() => this.longPressDue(), Math.max(0, delay));
      return;
    }
    const pressedAt = this.pressedAt;
    this.clearLongPress();
    this.pressedAt = null;
    if (pressedAt !== null) this.emit('release', { at, heldMs: at - pressedAt });
  }

  private longPressDue(): void {
    this.longTimer = null;
    if (this.burstAt !== null) this.longPending = true;
    else this.emitLongPress();
  }

  private emitLongPress(): void {
    this.longPending = false;
    this.emit('long-press', { at: this.pressedAt! + this.longPressMs });
  }

  private get longPressMs(): number {
    return (this.deps.longPressSeconds ?? 5) * 1000;
  }

  private clearLongPress(): void {
    if (this.longTimer) clearTimeout(this.longTimer);
    this.longTimer = null;
    this.longPending = false;
  }

  private clearTimers(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    this.burstAt = null;
    this.clearLongPress();
  }
}

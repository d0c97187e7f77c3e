/**
 * The doorbell push button, over any DigitalInput (every backend gets the same behaviour).
 *
 * Leading-edge debounce: the first edge after the line was quiet for `debounceMs` counts at once, so
 * a ring costs no waiting; the contact bounce that follows it (edges closer together than that) is
 * ignored. Bounce edges come well under BOUNCE_FLOOR_MS apart, so the quiet time is never shorter
 * than that floor: even `debounceMs: 0` gives one event per press. When a burst leaves the line at
 * the other level than the one counted (a glitch, or a release inside the bounce window), the
 * level is put right once the line has been quiet for the same time.
 *
 * Press and long press: `press` is emitted at the first edge, before anyone knows how long the
 * button will be held. If it is still held `longPressSeconds` after the press, `long-press` follows
 * (once, while still held): a long press (which opens pairing) has therefore also rung once.
 * `release` comes when the button is let go. Times are the edges' own stamps (kernel timestamps on
 * real hardware), so a busy event loop that hears of a whole press late still counts it right.
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

/** Contact bounce of a push button: edges a few ms apart for up to ~15 ms; never a new press. */
export const BOUNCE_FLOOR_MS = 5;

export class Button extends Emitter<ButtonEvents> {
  /** The debounced logical level. */
  private level: Level = 0;
  /** The line's level as its last edge left it. */
  private lineLevel: Level = 0;
  private lastEdgeAt = Number.NEGATIVE_INFINITY;
  /** Time of the current press; null when released, or held since before start (not a press). */
  private pressedAt: number | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private longTimer: NodeJS.Timeout | null = null;
  /** The long-press time came while the line was unsettled: settling decides. */
  private longPending = false;
  private readonly onEdge = (edge: Edge): void => this.edge(edge);

  constructor(private readonly deps: ButtonDeps) {
    super();
  }

  /** Starts the input (the button owns it) and follows its edges. */
  async start(): Promise<void> {
    await this.deps.input.start();
    this.level = this.lineLevel = this.deps.input.read();
    this.deps.input.on('edge', this.onEdge);
  }

  async stop(): Promise<void> {
    this.deps.input.off('edge', this.onEdge);
    this.clearTimers();
    await this.deps.input.stop();
  }

  private get quietMs(): number {
    return Math.max(this.deps.debounceMs, BOUNCE_FLOOR_MS);
  }

  private edge({ value, at }: Edge): void {
    const quiet = at - this.lastEdgeAt >= this.quietMs;
    this.lastEdgeAt = at;
    this.lineLevel = value;
    if (quiet && value !== this.level) this.change(value, at);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    const delay = at + this.quietMs - this.clock.now();
    this.settleTimer = setTimeout(() => this.settle(), Math.max(0, delay));
  }

  /** The line has been quiet for quietMs: its level is the logical one now. */
  private settle(): void {
    this.settleTimer = null;
    if (this.lineLevel !== this.level) this.change(this.lineLevel, this.lastEdgeAt);
    else if (this.longPending) this.emitLongPress();
  }

  private change(value: Level, at: number): void {
    this.level = value;
    if (value === 1) {
      this.pressedAt = at;
      this.emit('press', { at });
      const delay = at + this.longPressMs - this.clock.now();
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
    if (this.lineLevel !== 1) this.longPending = true;
    else this.emitLongPress();
  }

  private emitLongPress(): void {
    this.longPending = false;
    if (this.pressedAt !== null) this.emit('long-press', { at: this.pressedAt + this.longPressMs });
  }

  private get longPressMs(): number {
    return (this.deps.longPressSeconds ?? 5) * 1000;
  }

  private get clock(): Clock {
    return this.deps.clock ?? systemClock;
  }

  private clearLongPress(): void {
    if (this.longTimer) clearTimeout(this.longTimer);
    this.longTimer = null;
    this.longPending = false;
  }

  private clearTimers(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    this.clearLongPress();
  }
}

/** What the doorbell drives: a chime relay and a status LED, over any DigitalOutput. */
import type { DigitalOutput, Level } from './gpio.js';

/** Energises the chime relay for `pulseMs` per ring; a ring during a pulse lengthens it. */
export class Chime {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: { output: DigitalOutput; pulseMs: number }) {}

  async start(): Promise<void> {
    await this.deps.output.start();
  }

  async stop(): Promise<void> {
    this.clear();
    await this.deps.output.stop();
  }

  ring(): void {
    this.clear();
    this.deps.output.write(1);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.deps.output.write(0);
    }, this.deps.pulseMs);
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** steady = all well, slow blink = pairing window open, fast blink = something needs attention. */
export type LedMode = 'off' | 'ok' | 'pairing' | 'fault';

const BLINK_HALF_PERIOD_MS: Partial<Record<LedMode, number>> = { pairing: 500, fault: 100 };

export class StatusLed {
  private mode: LedMode = 'ok';
  private started = false;
  private timer: NodeJS.Timeout | null = null;
  private lit: Level = 0;

  constructor(private readonly deps: { output: DigitalOutput }) {}

  async start(): Promise<void> {
    await this.deps.output.start();
    this.started = true;
    this.apply();
  }

  async stop(): Promise<void> {
    this.started = false;
    this.clear();
    await this.deps.output.stop();
  }

  /** May be called before start; the mode shows once started. */
  set(mode: LedMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    if (this.started) this.apply();
  }

  private apply(): void {
    this.clear();
    const half = BLINK_HALF_PERIOD_MS[this.mode];
    this.show(this.mode === 'off' ? 0 : 1);
    if (half) this.timer = setInterval(() => this.show(this.lit === 1 ? 0 : 1), half);
  }

  private show(level: Level): void {
    this.lit = level;
    this.deps.output.write(level);
  }

  private clear(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

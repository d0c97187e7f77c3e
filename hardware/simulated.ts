/**
 * GPIO with no hardware, for development, the demo and tests. Inputs are driven by `set`, or by
 * `press` and `pulse`, which reproduce what real parts do: a push button's contacts bounce for
 * several milliseconds on both press and release; a PIR module gives one clean high pulse.
 */
import { systemClock, type Clock } from '../agent/clock.js';
import { Emitter } from './emitter.js';
import {
  applyActiveLow,
  type DigitalInput,
  type DigitalOutput,
  type Gpio,
  type InputEvents,
  invert,
  type Level,
  type LineOptions,
} from './gpio.js';

/** Edge times (ms from the first) of one contact-bounce burst; an odd count ends on the new level. */
const BOUNCE_OFFSETS_MS = [0, 1, 3, 4, 7, 9, 12];

export interface OutputWrite {
  pin: number;
  /** Logical value (1 = active). */
  value: Level;
  /** Electrical level, after active-low inversion. */
  raw: Level;
  at: number;
}

type SimulatedEvents = { write: OutputWrite };

class SimulatedInput extends Emitter<InputEvents> implements DigitalInput {
  private raw: Level;
  private started = false;

  constructor(
    readonly activeLow: boolean,
    private readonly clock: Clock,
  ) {
    super();
    this.raw = applyActiveLow(0, activeLow);
  }

  async start(): Promise<void> {
    this.started = true;
  }

  async stop(): Promise<void> {
    this.started = false;
  }

  read(): Level {
    return applyActiveLow(this.raw, this.activeLow);
  }

  /** `at` is when the edge happened, like a kernel timestamp: a busy event loop may hear of it later. */
  setRaw(raw: Level, at: number = this.clock.now()): void {
    if (raw === this.raw) return;
    this.raw = raw;
    if (this.started) this.emit('edge', { value: this.read(), at });
  }
}

class SimulatedOutput implements DigitalOutput {
  private started = false;

  constructor(
    private readonly pin: number,
    private readonly activeLow: boolean,
    private readonly record: (write: OutputWrite) => void,
    private readonly clock: Clock,
  ) {}

  async start(): Promise<void> {
    this.started = true;
    this.write(0);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.write(0);
    this.started = false;
  }

  write(value: Level): void {
    if (!this.started) throw new Error(`simulated output on pin ${this.pin} is not started`);
    this.record({ pin: this.pin, value, raw: applyActiveLow(value, this.activeLow), at: this.clock.now() });
  }
}

export class SimulatedGpio extends Emitter<SimulatedEvents> implements Gpio {
  private readonly inputs = new Map<number, SimulatedInput>();
  private readonly outputs = new Set<number>();
  private readonly written: OutputWrite[] = [];

  constructor(private readonly deps: { clock?: Clock } = {}) {
    super();
  }

  input(pin: number, opts: LineOptions): DigitalInput {
    this.claim(pin);
    const line = new SimulatedInput(opts.activeLow, this.clock);
    this.inputs.set(pin, line);
    return line;
  }

  output(pin: number, opts: LineOptions): DigitalOutput {
    this.claim(pin);
    this.outputs.add(pin);
    return new SimulatedOutput(
      pin,
      opts.activeLow,
      (write) => {
        this.written.push(write);
        this.emit('write', write);
      },
      this.clock,
    );
  }

  /** Sets the raw (electrical) level of an input pin; `at` stamps the edge (default: now). */
  set(pin: number, raw: Level, at?: number): void {
    this.inputAt(pin).setRaw(raw, at);
  }

  /** A button press held `holdMs`, with a bounce burst on press and on release. Resolves after release. */
  press(pin: number, holdMs: number): Promise<void> {
    const line = this.inputAt(pin);
    const pressed = applyActiveLow(1, line.activeLow);
    this.bounce(line, pressed, 0);
    return this.bounce(line, invert(pressed), holdMs);
  }

  /** A PIR detection: the output goes active for `highMs`, without bounce. Resolves when it falls. */
  pulse(pin: number, highMs: number): Promise<void> {
    const line = this.inputAt(pin);
    line.setRaw(applyActiveLow(1, line.activeLow));
    return new Promise((resolve) =>
      setTimeout(() => {
        line.setRaw(applyActiveLow(0, line.activeLow));
        resolve();
      }, highMs),
    );
  }

  /** Every write to the output on `pin`, oldest first. */
  writes(pin: number): OutputWrite[] {
    return this.written.filter((w) => w.pin === pin);
  }

  private get clock(): Clock {
    return this.deps.clock ?? systemClock;
  }

  private claim(pin: number): void {
    if (this.inputs.has(pin) || this.outputs.has(pin)) throw new Error(`GPIO pin ${pin} is already in use`);
  }

  private inputAt(pin: number): SimulatedInput {
    const line = this.inputs.get(pin);
    if (!line) throw new Error(`no simulated input on GPIO pin ${pin}`);
    return line;
  }

  /** Schedules one bounce burst ending on `target`; resolves after its last edge. */
  private bounce(line: SimulatedInput, target: Level, delayMs: number): Promise<void> {
    const other = invert(target);
    const start = this.clock.now();
    return new Promise((resolve) => {
      BOUNCE_OFFSETS_MS.forEach((offset, i) => {
        const last = i === BOUNCE_OFFSETS_MS.length - 1;
        const edge = (): void => {
          line.setRaw(i % 2 === 0 ? target : other, start + delayMs + offset);
          if (last) resolve();
        };
        if (delayMs + offset === 0) edge();
        else setTimeout(edge, delayMs + offset);
      });
    });
  }
}

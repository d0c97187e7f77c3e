/**
 * What the rest of the agent sees of GPIO: inputs that report edges with wall-clock timestamps and
 * outputs that take logical values. Every backend applies `activeLow` the same way, so logical 1
 * always means pressed / motion / energised, whatever the wiring.
 */
export type Level = 0 | 1;

/** One edge of an input, already inverted for active-low lines. `at` is wall-clock milliseconds. */
export interface Edge {
  value: Level;
  at: number;
}

export type InputEvents = { edge: Edge };

export interface DigitalInput {
  on(name: 'edge', listener: (edge: Edge) => void): unknown;
  off(name: 'edge', listener: (edge: Edge) => void): unknown;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The current logical level (1 = active). */
  read(): Level;
}

export interface DigitalOutput {
  /** Claims the line and drives it inactive (logical 0): a relay is never energised at boot. */
  start(): Promise<void>;
  /** Drives the line inactive and releases it. */
  stop(): Promise<void>;
  write(value: Level): void;
}

export interface LineOptions {
  activeLow: boolean;
}

/** `auto` resolves to `onoff` or `gpiod` on this machine (see auto.ts). */
export type GpioBackend = 'simulated' | 'auto' | 'onoff' | 'gpiod';

export interface Gpio {
  input(pin: number, opts: LineOptions): DigitalInput;
  output(pin: number, opts: LineOptions): DigitalOutput;
}

/** Sorted by what the operator has to do about it (see `message` for the exact step). */
export type GpioErrorKind =
  | 'unavailable' // this GPIO interface does not exist on this kernel/machine
  | 'permission' // exists, but the agent's user may not use it
  | 'missing-dependency' // a package or tool is not installed
  | 'chip-not-found' // no Raspberry Pi GPIO controller found
  | 'pin-out-of-range'
  | 'busy'; // the line is used by another process or driver

export class GpioError extends Error {
  constructor(
    readonly kind: GpioErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'GpioError';
  }
}

export function invert(value: Level): Level {
  return value === 1 ? 0 : 1;
}

/** Logical ↔ raw: the same operation both ways. */
export function applyActiveLow(value: Level, activeLow: boolean): Level {
  return activeLow ? invert(value) : value;
}

/** Labels of the Raspberry Pi's own GPIO controller: Pi 1–3 and Zero, Pi 4 and 400, Pi 5 (the RP1 chip). */
export const PI_PINCTRL_LABELS: readonly string[] = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1'];

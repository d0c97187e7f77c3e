/**
 * The sysfs backend, through the optional `onoff` package (loaded only when this backend is chosen).
 * onoff always works on /sys/class/gpio itself; `sysfsRoot` only moves where the pin mapping and the
 * access check look, which is what tests use. onoff's `debounceTimeout` is trailing-edge (it would
 * stamp a press at the end of the bounce), so it is not used: Button debounces.
 */
import { systemClock, type Clock } from '../agent/clock.js';
import type { Logger } from '../agent/log.js';
import { Emitter } from './emitter.js';
import {
  applyActiveLow,
  GpioError,
  type DigitalInput,
  type DigitalOutput,
  type Gpio,
  type InputEvents,
  type Level,
  type LineOptions,
} from './gpio.js';
import { checkSysfsExportable, explainSysfsError, mapBcmPinToSysfs, sysfsGpioDir } from './sysfs.js';

/** The part of onoff's `Gpio` this backend uses. */
export interface OnoffLine {
  readSync(): Level;
  writeSync(value: Level): void;
  watch(callback: (err: Error | null | undefined, value: Level) => void): void;
  unexport(): void;
}

export interface OnoffModule {
  Gpio: new (
    gpio: number,
    direction: 'in' | 'high' | 'low',
    edge: 'none' | 'both',
    options: { activeLow: boolean },
  ) => OnoffLine;
}

export async function loadOnoff(): Promise<OnoffModule> {
  const name = 'onoff'; // a variable, so the build does not require the optional package
  let mod: { Gpio?: unknown; default?: { Gpio?: unknown } };
  try {
    mod = (await import(name)) as typeof mod;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND';
    throw new GpioError(
      'missing-dependency',
      missing
        ? 'gpio.backend "onoff" needs the optional package onoff, which is not installed ' +
            '(npm install onoff; it builds a native addon, so python3, make and g++ must be present), ' +
            'or set gpio.backend to "gpiod"'
        : `the onoff package failed to load: ${(err as Error).message}`,
    );
  }
  const Gpio = mod.Gpio ?? mod.default?.Gpio;
  if (typeof Gpio !== 'function') throw new GpioError('missing-dependency', 'the onoff package has no Gpio class');
  return { Gpio } as OnoffModule;
}

export interface OnoffGpioOptions {
  log: Logger;
  sysfsRoot?: string;
  clock?: Clock;
  load?: () => Promise<OnoffModule>;
}

interface LineDeps extends OnoffGpioOptions {
  pin: number;
  activeLow: boolean;
}

/** Maps the pin, checks access, and exports it through onoff, with errors that say what to do. */
async function openLine(deps: LineDeps, direction: 'in' | 'high' | 'low'): Promise<OnoffLine> {
  const root = deps.sysfsRoot ?? '/sys';
  const { sysfsNumber, chip } = await mapBcmPinToSysfs(deps.pin, root);
  await checkSysfsExportable(root);
  const { Gpio } = await (deps.load ?? loadOnoff)();
  try {
    // activeLow false: inversion is ours, and a line left exported with active_low=1 must not invert twice.
    const line = new Gpio(sysfsNumber, direction, direction === 'in' ? 'both' : 'none', { activeLow: false });
    deps.log.info('GPIO line exported', { pin: deps.pin, sysfsNumber, chip: chip.label, direction });
    return line;
  } catch (err) {
    throw explainSysfsError(err, `${sysfsGpioDir(root)}/gpio${sysfsNumber}`, deps.pin);
  }
}

class OnoffInput extends Emitter<InputEvents> implements DigitalInput {
  private line: OnoffLine | null = null;
  private raw: Level = 0;

  constructor(private readonly deps: LineDeps) {
    super();
  }

  async start(): Promise<void> {
    const line = await openLine(this.deps, 'in');
    this.raw = line.readSync();
    line.watch((err, value) => {
      if (err) {
        this.deps.log.error('GPIO edge watch failed', { pin: this.deps.pin, error: err.message });
        return;
      }
      this.raw = value;
      this.emit('edge', { value: this.read(), at: (this.deps.clock ?? systemClock).now() });
    });
    this.line = line;
  }

  async stop(): Promise<void> {
    this.line?.unexport();
    this.line = null;
  }

  read(): Level {
    return applyActiveLow(this.raw, this.deps.activeLow);
  }
}

class OnoffOutput implements DigitalOutput {
  private line: OnoffLine | null = null;

  constructor(private readonly deps: LineDeps) {}

  async start(): Promise<void> {
    // Exported straight into the inactive level, so the line never glitches active.
    this.line = await openLine(this.deps, applyActiveLow(0, this.deps.activeLow) === 1 ? 'high' : 'low');
  }

  async stop(): Promise<void> {
    if (!this.line) return;
    this.write(0);
    this.line.unexport();
    this.line = null;
  }

  write(value: Level): void {
    if (!this.line) throw new Error(`GPIO output on BCM pin ${this.deps.pin} is not started`);
    try {
      this.line.writeSync(applyActiveLow(value, this.deps.activeLow));
    } catch (err) {
      this.deps.log.error('GPIO write failed', { pin: this.deps.pin, value, error: (err as Error).message });
    }
  }
}

export class OnoffGpio implements Gpio {
  constructor(private readonly opts: OnoffGpioOptions) {}

  input(pin: number, opts: LineOptions): DigitalInput {
    return new OnoffInput({ ...this.opts, pin, activeLow: opts.activeLow });
  }

  output(pin: number, opts: LineOptions): DigitalOutput {
    return new OnoffOutput({ ...this.opts, pin, activeLow: opts.activeLow });
  }
}

/**
 * The character-device backend, for kernels without sysfs GPIO, through Debian's `gpiod` tools:
 * each input is a long-running `gpiomon`, each output a `gpioset` that holds the line at its value
 * (replaced on every write). Both are supervised and restarted with backoff if they die. libgpiod
 * 1.x and 2.x take different arguments and print differently: see libgpiod.ts.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
import {
  eventWallMs,
  explainGpiodFailure,
  findPinctrlChip,
  gpiogetArgs,
  gpiomonArgs,
  gpiosetArgs,
  parseGpiodetect,
  parseGpioget,
  parseGpiomonLine,
  parseLibgpiodVersion,
  type GpiodChip,
  type LibgpiodMajor,
} from './libgpiod.js';
import { SupervisedProcess } from './supervised.js';

const execFileAsync = promisify(execFile);
const TOOL_TIMEOUT_MS = 5_000;

export interface GpiodGpioOptions {
  log: Logger;
  /** Folder holding gpiomon, gpioset, gpioget and gpiodetect; default: found on PATH. */
  binDir?: string;
  clock?: Clock;
  /** First restart delay of a gpiomon or gpioset that died (doubles per quick death). */
  restartMs?: number;
}

interface PiChip {
  major: LibgpiodMajor;
  chip: GpiodChip;
}

/** Runs the tools and finds, once, the libgpiod version and the Pi's GPIO chip. */
class GpiodTools {
  private detection: Promise<PiChip> | null = null;

  constructor(readonly opts: GpiodGpioOptions) {}

  get log(): Logger {
    return this.opts.log;
  }

  get clock(): Clock {
    return this.opts.clock ?? systemClock;
  }

  path(tool: string): string {
    return this.opts.binDir ? join(this.opts.binDir, tool) : tool;
  }

  async run(tool: string, args: string[], pin?: number): Promise<string> {
    try {
      return (await execFileAsync(this.path(tool), args, { timeout: TOOL_TIMEOUT_MS })).stdout;
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      throw explainGpiodFailure(tool, e.code === 'ENOENT' ? 'ENOENT' : e.stderr || e.message, pin);
    }
  }

  /** The chip holding BCM pin `pin`; fails clearly when the pin is not on it. */
  async lineFor(pin: number): Promise<PiChip> {
    this.detection ??= this.detect().catch((err: unknown) => {
      this.detection = null; // a later start may succeed (tools installed, group added)
      throw err;
    });
    const found = await this.detection;
    if (!Number.isInteger(pin) || pin < 0 || pin >= found.chip.lines) {
      throw new GpioError(
        'pin-out-of-range',
        `BCM pin ${pin} is out of range: ${found.chip.name} [${found.chip.label}] has lines 0 to ${found.chip.lines - 1}`,
      );
    }
    return found;
  }

  private async detect(): Promise<PiChip> {
    const major = parseLibgpiodVersion(await this.run('gpiomon', ['--version']));
    const chips = parseGpiodetect(await this.run('gpiodetect', []));
    const chip = findPinctrlChip(chips);
    if (!chip) {
      const found = chips.map((c) => `${c.name} [${c.label}]`).join(', ') || 'none';
      throw new GpioError('chip-not-found', `no Raspberry Pi GPIO controller among the GPIO chips (found: ${found})`);
    }
    this.log.info('libgpiod tools found', { libgpiod: major, chip: chip.name, label: chip.label });
    return { major, chip };
  }
}

class GpiodInput extends Emitter<InputEvents> implements DigitalInput {
  private raw: Level = 0;
  private monitor: SupervisedProcess | null = null;

  constructor(
    private readonly tools: GpiodTools,
    private readonly pin: number,
    private readonly activeLow: boolean,
  ) {
    super();
  }

  async start(): Promise<void> {
    const { major, chip } = await this.tools.lineFor(this.pin);
    // gpiomon only reports changes: read the level first (this also fails clearly on a bad pin).
    this.raw = await this.readRaw(major, chip.name);
    const monitor = new SupervisedProcess({
      command: this.tools.path('gpiomon'),
      args: gpiomonArgs(major, chip.name, this.pin),
      log: this.tools.log,
      onLine: (line) => this.onLine(line, major),
      beforeRestart: () => this.catchUp(major, chip.name),
      restartMs: this.tools.opts.restartMs,
      explain: (detail) => explainGpiodFailure('gpiomon', detail, this.pin),
    });
    await monitor.start();
    this.monitor = monitor;
  }

  async stop(): Promise<void> {
    await this.monitor?.stop();
    this.monitor = null;
  }

  read(): Level {
    return applyActiveLow(this.raw, this.activeLow);
  }

  private async readRaw(major: LibgpiodMajor, chip: string): Promise<Level> {
    return parseGpioget(await this.tools.run('gpioget', gpiogetArgs(major, chip, this.pin), this.pin));
  }

  /** While gpiomon was down an edge may have been missed: report the level it left behind. */
  private async catchUp(major: LibgpiodMajor, chip: string): Promise<void> {
    const raw = await this.readRaw(major, chip);
    if (raw !== this.raw) this.take(raw, this.tools.clock.now());
  }

  private onLine(line: string, major: LibgpiodMajor): void {
    const event = parseGpiomonLine(line, major);
    if (!event) {
      this.tools.log.warn('unexpected gpiomon output', { pin: this.pin, line });
      return;
    }
    if (event.offset !== this.pin) return;
    const at = eventWallMs(event.timestampNs, this.tools.clock.now(), process.hrtime.bigint());
    this.take(event.edge === 'rising' ? 1 : 0, at);
  }

  private take(raw: Level, at: number): void {
    this.raw = raw;
    this.emit('edge', { value: this.read(), at });
  }
}

class GpiodOutput implements DigitalOutput {
  private line: PiChip | null = null;
  private holder: SupervisedProcess | null = null;
  /** Logical value the running gpioset holds. */
  private held: Level | null = null;
  private wanted: Level = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly tools: GpiodTools,
    private readonly pin: number,
    private readonly activeLow: boolean,
  ) {}

  async start(): Promise<void> {
    this.line = await this.tools.lineFor(this.pin);
    this.wanted = 0;
    await this.hold(0, true);
  }

  async stop(): Promise<void> {
    if (!this.line) return;
    this.wanted = 0;
    await this.queue;
    if (this.held !== 0) {
      await this.hold(0, true).catch((err: Error) =>
        this.tools.log.error('GPIO output could not be set inactive', { pin: this.pin, error: err.message }),
      );
    }
    this.line = null;
    await this.holder?.stop();
    this.holder = null;
    this.held = null;
  }

  /** Writes are applied in order; a burst of writes collapses to the latest value. */
  write(value: Level): void {
    if (!this.line) throw new Error(`GPIO output on BCM pin ${this.pin} is not started`);
    this.wanted = value;
    this.queue = this.queue
      .then(async () => {
        if (this.line && this.held !== this.wanted) await this.hold(this.wanted, false);
      })
      .catch((err: Error) => this.tools.log.error('GPIO write failed', { pin: this.pin, value, error: err.message }));
  }

  /** Replaces the holding gpioset; `settle` waits to see it survive (and throws if it does not). */
  private async hold(value: Level, settle: boolean): Promise<void> {
    const { major, chip } = this.line!;
    await this.holder?.stop();
    const holder = new SupervisedProcess({
      command: this.tools.path('gpioset'),
      args: gpiosetArgs(major, chip.name, this.pin, applyActiveLow(value, this.activeLow)),
      log: this.tools.log,
      restartMs: this.tools.opts.restartMs,
      explain: (detail) => explainGpiodFailure('gpioset', detail, this.pin),
    });
    this.holder = holder;
    this.held = value;
    const started = holder.start();
    if (settle) await started;
    else started.catch((err: Error) => this.tools.log.error('GPIO write failed', { pin: this.pin, value, error: err.message }));
  }
}

export class GpiodGpio implements Gpio {
  private readonly tools: GpiodTools;

  constructor(opts: GpiodGpioOptions) {
    this.tools = new GpiodTools(opts);
  }

  input(pin: number, opts: LineOptions): DigitalInput {
    return new GpiodInput(this.tools, pin, opts.activeLow);
  }

  output(pin: number, opts: LineOptions): DigitalOutput {
    return new GpiodOutput(this.tools, pin, opts.activeLow);
  }
}

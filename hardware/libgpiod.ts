/**
 * What differs between the libgpiod 1.x and 2.x command-line tools (Debian's `gpiod` package:
 * 1.6 up to bookworm, 2.x from trixie): their arguments and their output. Pure functions, tested
 * against recorded output of both versions (test/fixtures/gpio/).
 */
import { GpioError, PI_PINCTRL_LABELS, type Level } from './gpio.js';

export type LibgpiodMajor = 1 | 2;

/** From `gpiomon --version`, whose first line is e.g. `gpiomon (libgpiod) v1.6.3`. */
export function parseLibgpiodVersion(text: string): LibgpiodMajor {
  const m = /\(libgpiod\)\s+v(\d+)\.(\d+)/.exec(text);
  if (!m) throw new GpioError('missing-dependency', `cannot read the libgpiod version from: ${text.trim().split('\n')[0]}`);
  const major = Number(m[1]);
  if (major !== 1 && major !== 2) {
    throw new GpioError('missing-dependency', `libgpiod v${m[1]}.${m[2]} is not supported (1.x and 2.x are)`);
  }
  return major;
}

export interface GpiodChip {
  /** Character device name, e.g. `gpiochip0`. */
  name: string;
  label: string;
  lines: number;
}

/** `gpiodetect` prints `gpiochip0 [pinctrl-bcm2711] (58 lines)` per chip, in both versions. */
export function parseGpiodetect(text: string): GpiodChip[] {
  const chips: GpiodChip[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+\[(.*)\]\s+\((\d+) lines?\)\s*$/.exec(line.trim());
    if (m) chips.push({ name: m[1]!, label: m[2]!, lines: Number(m[3]) });
  }
  return chips;
}

/** The Pi's own pin controller among the chips (on a Pi 5 with kernel < 6.6 it is gpiochip4). */
export function findPinctrlChip(chips: GpiodChip[]): GpiodChip | undefined {
  return chips.find((c) => PI_PINCTRL_LABELS.includes(c.label));
}

/**
 * Our output format: 1.x `%o %e %s %n` (its `%n` is not zero-padded, so seconds and nanoseconds
 * stay separate fields), 2.x `%o %e %S`. 1.x needs --line-buffered or events wait in a pipe buffer;
 * 2.x flushes after each event.
 */
export function gpiomonArgs(major: LibgpiodMajor, chip: string, offset: number): string[] {
  return major === 1
    ? ['--num-events=0', '--line-buffered', '--format=%o %e %s %n', chip, String(offset)]
    : ['--chip', chip, '--format', '%o %e %S', String(offset)];
}

export function gpiogetArgs(major: LibgpiodMajor, chip: string, offset: number): string[] {
  return major === 1 ? [chip, String(offset)] : ['--chip', chip, String(offset)];
}

/**
 * A process that holds the line at `raw` until it is signalled. 1.x needs `--mode=signal` (its
 * default sets and exits); 2.x holds by default. Either way the value is only guaranteed while it runs.
 */
export function gpiosetArgs(major: LibgpiodMajor, chip: string, offset: number, raw: Level): string[] {
  return major === 1 ? ['--mode=signal', chip, `${offset}=${raw}`] : ['--chip', chip, `${offset}=${raw}`];
}

/** 1.x prints `1`; 2.x prints `"17"=active` (or `17=inactive` with --unquoted, `1` with --numeric). */
export function parseGpioget(text: string): Level {
  const t = text.trim();
  if (t === '0' || t === '1') return Number(t) as Level;
  const m = /^(?:"[^"]*"|\S+)=(active|inactive)$/.exec(t);
  if (m) return m[1] === 'active' ? 1 : 0;
  throw new Error(`unexpected gpioget output: ${JSON.stringify(t)}`);
}

export interface GpiomonEvent {
  offset: number;
  edge: 'rising' | 'falling';
  /** As the kernel stamped it: CLOCK_MONOTONIC on current kernels, CLOCK_REALTIME before 5.7. */
  timestampNs: bigint;
}

function ns(seconds: string, fraction: string): bigint {
  return BigInt(seconds) * 1_000_000_000n + BigInt(fraction);
}

/**
 * One line of gpiomon output: our format of either version, or either version's default
 * (1.x `event:  RISING EDGE offset: 17 timestamp: [    1234.567890123]`,
 *  2.x `1234.567890123\trising\tgpiochip0 17 "GPIO17"`). Anything else (a banner) gives null.
 */
export function parseGpiomonLine(line: string, major: LibgpiodMajor): GpiomonEvent | null {
  const t = line.trim();
  let m = /^event:\s+(RISING|FALLING) EDGE offset:\s*(\d+) timestamp:\s*\[\s*(\d+)\.(\d{9})\]$/.exec(t);
  if (m) return { edge: m[1] === 'RISING' ? 'rising' : 'falling', offset: Number(m[2]), timestampNs: ns(m[3]!, m[4]!) };
  m = /^(\d+)\.(\d{9})\t(rising|falling)\t\S+ (\d+)\b/.exec(t);
  if (m) return { edge: m[3] as 'rising' | 'falling', offset: Number(m[4]), timestampNs: ns(m[1]!, m[2]!) };
  if (major === 1) {
    m = /^(\d+) ([01]) (\d+) (\d{1,9})$/.exec(t);
    if (m) return { offset: Number(m[1]), edge: m[2] === '1' ? 'rising' : 'falling', timestampNs: ns(m[3]!, m[4]!) };
  } else {
    m = /^(\d+) ([12]) (\d+)\.(\d{9})$/.exec(t);
    if (m) return { offset: Number(m[1]), edge: m[2] === '1' ? 'rising' : 'falling', timestampNs: ns(m[3]!, m[4]!) };
  }
  return null;
}

const REALTIME_AFTER_NS = 1_000_000_000n * 1_000_000_000n; // 2001-09-09: no machine has that much uptime

/**
 * Wall-clock milliseconds of an event timestamp. A monotonic stamp is turned into an age against
 * the monotonic clock now (Node's hrtime is CLOCK_MONOTONIC on Linux, the kernel's event clock), so
 * the edge keeps its real time even if the line was read late. An age that makes no sense (clocks
 * not comparable) falls back to now.
 */
export function eventWallMs(timestampNs: bigint, nowMs: number, nowMonotonicNs: bigint): number {
  if (timestampNs >= REALTIME_AFTER_NS) return Number(timestampNs / 1_000_000n);
  const ageMs = Number(nowMonotonicNs - timestampNs) / 1e6;
  return ageMs >= 0 && ageMs < 60_000 ? Math.round(nowMs - ageMs) : nowMs;
}

export const MISSING_GPIOD_TOOLS =
  "the gpiod backend needs the GPIO tools from Debian's gpiod package: sudo apt install gpiod";

/** Turns a gpiod tool's failure (its stderr, or the spawn error) into one that says what to do. */
export function explainGpiodFailure(tool: string, detail: string, pin?: number): Error {
  const last = detail.trim().split('\n').pop() ?? '';
  const line = pin === undefined ? 'the GPIO line' : `BCM pin ${pin}`;
  if (/ENOENT/.test(detail)) return new GpioError('missing-dependency', `${MISSING_GPIOD_TOOLS} (${tool} not found)`);
  if (/permission denied/i.test(detail)) {
    return new GpioError(
      'permission',
      `${tool}: permission denied on the GPIO character device: add the user running the agent to the "gpio" ` +
        `group (sudo usermod -aG gpio <user>) and restart the agent (${last})`,
    );
  }
  if (/busy/i.test(detail)) {
    return new GpioError('busy', `${tool}: ${line} is in use by a kernel driver or another program (${last})`);
  }
  if (/out of range|invalid (GPIO )?offset|invalid argument/i.test(detail)) {
    return new GpioError('pin-out-of-range', `${tool}: ${line} does not exist on this GPIO chip (${last})`);
  }
  return new Error(`${tool} failed for ${line}: ${last || 'no message'}`);
}

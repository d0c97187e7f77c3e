/**
 * `gpio.backend: auto`: looks at this machine once, synchronously, and picks the backend that works.
 * sysfs GPIO through onoff where the kernel still has it and the package is installed (the classic
 * setup); the character device through Debian's gpiod tools where sysfs GPIO is gone (or unusable);
 * otherwise an error that lists what is missing and how to add it. `doorbell doctor` prints
 * explainGpioChoice().
 */
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { GpioError } from './gpio.js';
import { MISSING_GPIOD_TOOLS } from './libgpiod.js';

export interface GpioProbeOptions {
  /** Where sysfs is mounted (default `/sys`). */
  sysfsRoot?: string;
  /** Where the GPIO character devices are (default `/dev`). */
  devRoot?: string;
  /** Folders searched for gpiomon and gpioset (default `$PATH`). */
  path?: string;
  /** Whether the optional onoff package can be loaded (default: resolved from here). */
  onoffInstalled?: () => boolean;
}

export interface GpioEnvironment {
  /** `/sys/class/gpio/export`: absent on kernels built without sysfs GPIO. */
  sysfs: 'absent' | 'no-permission' | 'ok';
  onoffInstalled: boolean;
  /** The `/dev/gpiochip*` devices, and whether this user may open them. */
  gpiochips: string[];
  gpiochipAccess: boolean;
  /** The folder holding both gpiomon and gpioset, or null. */
  gpiodTools: string | null;
}

export type GpioChoice = { backend: 'onoff' | 'gpiod'; why: string };

function canAccess(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false; // the answer is "no": the caller explains which access is missing
  }
}

function onoffResolvable(): boolean {
  try {
    createRequire(import.meta.url).resolve('onoff');
    return true;
  } catch {
    return false; // not installed (it is optional): the choice explains it
  }
}

export function probeGpioEnvironment(opts: GpioProbeOptions = {}): GpioEnvironment {
  const exportFile = join(opts.sysfsRoot ?? '/sys', 'class', 'gpio', 'export');
  const sysfs = !existsSync(exportFile) ? 'absent' : canAccess(exportFile, constants.W_OK) ? 'ok' : 'no-permission';
  const devRoot = opts.devRoot ?? '/dev';
  let names: string[] = [];
  if (existsSync(devRoot)) names = readdirSync(devRoot).filter((n) => /^gpiochip\d+$/.test(n));
  const gpiochips = names.sort().map((n) => join(devRoot, n));
  const gpiochipAccess = gpiochips.some((chip) => canAccess(chip, constants.R_OK | constants.W_OK));
  const folders = (opts.path ?? process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const gpiodTools = folders.find((dir) => ['gpiomon', 'gpioset'].every((t) => canAccess(join(dir, t), constants.X_OK))) ?? null;
  return { sysfs, onoffInstalled: (opts.onoffInstalled ?? onoffResolvable)(), gpiochips, gpiochipAccess, gpiodTools };
}

/** onoff when sysfs GPIO works and onoff is installed, else gpiod when its device and tools are usable; throws with the fixes otherwise. */
export function chooseGpioBackend(env: GpioEnvironment): GpioChoice {
  if (env.sysfs === 'ok' && env.onoffInstalled) return { backend: 'onoff', why: 'sysfs GPIO is available and the onoff package is installed' };
  const gpiodReady = env.gpiochips.length > 0 && env.gpiochipAccess && env.gpiodTools !== null;
  if (gpiodReady) {
    const sysfsWhy =
      env.sysfs === 'absent'
        ? 'this kernel has no sysfs GPIO'
        : env.sysfs === 'no-permission'
          ? 'sysfs GPIO is not writable for this user'
          : 'the onoff package is not installed';
    return { backend: 'gpiod', why: `${sysfsWhy}; ${env.gpiochips.join(', ')} and gpiomon/gpioset (${env.gpiodTools}) are usable` };
  }
  const problems: string[] = [];
  if (env.sysfs === 'absent') problems.push('sysfs GPIO: this kernel has none (/sys/class/gpio/export is missing)');
  else if (env.sysfs === 'no-permission') problems.push('sysfs GPIO: permission denied: add the user to the "gpio" group (sudo usermod -aG gpio <user>)');
  else if (!env.onoffInstalled) problems.push('sysfs GPIO: the optional onoff package is not installed (npm install onoff)');
  if (env.gpiochips.length === 0) problems.push('character device: no /dev/gpiochip* (not a Raspberry Pi, or GPIO not exposed to this container/service)');
  else if (!env.gpiochipAccess) problems.push(`character device: permission denied on ${env.gpiochips.join(', ')}: add the user to the "gpio" group`);
  if (env.gpiodTools === null) problems.push(`character device: ${MISSING_GPIOD_TOOLS}`);
  const permission = problems.some((p) => p.includes('permission denied'));
  const kind = permission ? 'permission' : env.gpiochips.length === 0 && env.sysfs === 'absent' ? 'unavailable' : 'missing-dependency';
  throw new GpioError(kind, `gpio.backend "auto" found no usable GPIO backend:\n  - ${problems.join('\n  - ')}\n(use "simulated" on a machine without GPIO)`);
}

/** What `auto` finds on this machine and what it picks, as lines for `doorbell doctor`. */
export function explainGpioChoice(opts: GpioProbeOptions = {}): string {
  const env = probeGpioEnvironment(opts);
  const found = [
    `sysfs GPIO: ${env.sysfs === 'ok' ? 'available' : env.sysfs === 'absent' ? 'absent' : 'present, not writable'}`,
    `onoff package: ${env.onoffInstalled ? 'installed' : 'not installed'}`,
    `character devices: ${env.gpiochips.length ? `${env.gpiochips.join(', ')}${env.gpiochipAccess ? '' : ' (no access)'}` : 'none'}`,
    `gpiod tools: ${env.gpiodTools ?? 'not found'}`,
  ];
  let verdict: string;
  try {
    const choice = chooseGpioBackend(env);
    verdict = `auto picks ${choice.backend}: ${choice.why}`;
  } catch (err) {
    verdict = (err as Error).message;
  }
  return [...found, verdict].join('\n');
}

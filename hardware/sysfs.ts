/**
 * BCM pin → sysfs GPIO number. The sysfs number is the controller's base plus the pin, and the base
 * is not fixed: 0 on older kernels, 512 (Pi 4, Pi 3) or 571 (Pi 5) on kernel 6.6 and later, where
 * exporting a bare BCM number fails with EINVAL. So the base is read from the gpiochip whose label
 * names the Pi's pin controller.
 */
import { constants } from 'node:fs';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GpioError, PI_PINCTRL_LABELS } from './gpio.js';

export interface SysfsGpioChip {
  /** Directory name, e.g. `gpiochip512`. */
  name: string;
  label: string;
  base: number;
  ngpio: number;
}

export function sysfsGpioDir(sysfsRoot: string): string {
  return join(sysfsRoot, 'class', 'gpio');
}

/** Every gpiochip under `<sysfsRoot>/class/gpio`, lowest base first. */
export async function readSysfsGpioChips(sysfsRoot = '/sys'): Promise<SysfsGpioChip[]> {
  const dir = sysfsGpioDir(sysfsRoot);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw explainSysfsError(err, dir);
  }
  const chips: SysfsGpioChip[] = [];
  for (const name of names.filter((n) => /^gpiochip\d+$/.test(n))) {
    const read = async (file: string): Promise<string> => {
      try {
        return (await readFile(join(dir, name, file), 'utf8')).trim();
      } catch (err) {
        throw explainSysfsError(err, join(dir, name, file));
      }
    };
    const [label, base, ngpio] = [await read('label'), Number(await read('base')), Number(await read('ngpio'))];
    if (!Number.isInteger(base) || !Number.isInteger(ngpio)) {
      throw new Error(`${join(dir, name)}: base and ngpio should be integers, found "${base}" and "${ngpio}"`);
    }
    chips.push({ name, label, base, ngpio });
  }
  return chips.sort((a, b) => a.base - b.base);
}

/** The sysfs number of BCM pin `pin`, and the controller it belongs to. */
export async function mapBcmPinToSysfs(
  pin: number,
  sysfsRoot = '/sys',
): Promise<{ sysfsNumber: number; chip: SysfsGpioChip }> {
  const chips = await readSysfsGpioChips(sysfsRoot);
  const chip = chips.find((c) => PI_PINCTRL_LABELS.includes(c.label));
  if (!chip) {
    const found = chips.map((c) => `${c.name} "${c.label}"`).join(', ') || 'none';
    throw new GpioError(
      'chip-not-found',
      `no Raspberry Pi GPIO controller in ${sysfsGpioDir(sysfsRoot)} (looked for a gpiochip labelled ` +
        `${PI_PINCTRL_LABELS.join(', ')}; found: ${found})`,
    );
  }
  if (!Number.isInteger(pin) || pin < 0 || pin >= chip.ngpio) {
    throw new GpioError('pin-out-of-range', `BCM pin ${pin} is out of range: ${chip.label} has pins 0 to ${chip.ngpio - 1}`);
  }
  return { sysfsNumber: chip.base + pin, chip };
}

/** Fails early, with the fix, when the agent's user cannot export GPIOs. */
export async function checkSysfsExportable(sysfsRoot = '/sys'): Promise<void> {
  const file = join(sysfsGpioDir(sysfsRoot), 'export');
  try {
    await access(file, constants.W_OK);
  } catch (err) {
    throw explainSysfsError(err, file);
  }
}

/** Turns a filesystem error on a sysfs GPIO path into one that says what to do. */
export function explainSysfsError(err: unknown, path: string, pin?: number): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const what = pin === undefined ? path : `BCM pin ${pin} (${path})`;
  switch (code) {
    case 'ENOENT':
      return new GpioError(
        'unavailable',
        `sysfs GPIO is not available on this kernel (${path} does not exist): set gpio.backend to "gpiod" ` +
          `to use the GPIO character device instead`,
      );
    case 'EACCES':
    case 'EPERM':
      return new GpioError(
        'permission',
        `permission denied on ${what}: add the user running the agent to the "gpio" group ` +
          `(sudo usermod -aG gpio <user>) and restart the agent`,
      );
    case 'EBUSY':
      return new GpioError('busy', `${what} is in use by a kernel driver or another program (check config.txt overlays)`);
    case 'EINVAL':
      return new GpioError('pin-out-of-range', `the kernel refused ${what} (EINVAL): no such GPIO number on this kernel`);
    default:
      return new Error(`${what}: ${(err as Error).message}`, { cause: err });
  }
}

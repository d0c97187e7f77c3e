/** GPIO: the configured backend can reach the configured pins. */
import type { Config } from '../config.js';
import {
  checkSysfsExportable,
  explainGpioChoice,
  explainGpiodFailure,
  findPinctrlChip,
  GpioError,
  mapBcmPinToSysfs,
  parseGpiodetect,
  type GpioErrorKind,
} from '../../hardware/index.js';
import type { CheckContext, DoctorCheck, RunResult } from './types.js';

const FIXES: Record<GpioErrorKind, string> = {
  unavailable: 'set gpio.backend to "gpiod" (this kernel has no sysfs GPIO)',
  permission: 'add the agent user to the gpio group (sudo usermod -aG gpio doorbell), then restart the agent',
  'missing-dependency': 'install what the message names (sudo apt-get install gpiod for the gpiod backend)',
  'chip-not-found': 'this does not look like a Raspberry Pi: use gpio.backend "simulated" for development',
  'pin-out-of-range': 'use BCM pin numbers (GPIO17 is 17, not physical pin 11) in gpio.button/pir/chime/led',
  busy: 'free the pin: remove the dtoverlay that claims it in /boot/firmware/config.txt or stop the other program',
};

/** Every configured pin, named by its use. */
function configuredPins(gpio: Config['gpio']): { use: string; pin: number }[] {
  const pins: { use: string; pin: number }[] = [];
  if (gpio.button) pins.push({ use: 'button', pin: gpio.button.pin });
  if (gpio.pir) pins.push({ use: 'pir', pin: gpio.pir.pin });
  if (gpio.chime) pins.push({ use: 'chime', pin: gpio.chime.pin });
  if (gpio.led) pins.push({ use: 'led', pin: gpio.led.pin });
  return pins;
}

function failure(name: string, err: unknown): DoctorCheck {
  const fix = err instanceof GpioError ? FIXES[err.kind] : 'see the message; `doorbell doctor` again after fixing';
  return { name, ok: false, detail: (err as Error).message, fix };
}

export async function checkGpio(ctx: CheckContext): Promise<DoctorCheck> {
  const { gpio } = ctx.config;
  const name = `gpio (${gpio.backend})`;
  const pins = configuredPins(gpio);
  const backend = gpio.backend;
  try {
    switch (backend) {
      case 'simulated':
        return { name, ok: true, detail: `simulated (development): no hardware is used; ${pinList(pins)}` };
      case 'onoff':
        return { name, ok: true, detail: await checkOnoff(ctx, pins) };
      case 'gpiod':
        return { name, ok: true, detail: await checkGpiod(ctx, pins) };
      case 'auto':
        return await checkAuto(ctx, name, pins);
      default: {
        const unknown: never = backend;
        throw new Error(`gpio.backend "${String(unknown)}" is not known to doctor`);
      }
    }
  } catch (err) {
    return failure(name, err);
  }
}

function pinList(pins: { use: string; pin: number }[]): string {
  return pins.map((p) => `${p.use} ${p.pin}`).join(', ') || 'no pins configured';
}

/** auto: fine when either backend can reach the pins; both failures are reported when neither can. */
async function checkAuto(ctx: CheckContext, name: string, pins: { use: string; pin: number }[]): Promise<DoctorCheck> {
  const tried: { backend: string; err: unknown }[] = [];
  for (const [backend, check] of [['gpiod', checkGpiod], ['onoff', checkOnoff]] as const) {
    try {
      return { name, ok: true, detail: `${backend} works: ${await check(ctx, pins)}` };
    } catch (err) {
      tried.push({ backend, err });
    }
  }
  const last = tried[tried.length - 1]!;
  return {
    ...failure(name, last.err),
    // What auto itself finds on this machine, so the owner sees why neither backend is usable.
    detail: `${tried.map((t) => `${t.backend}: ${(t.err as Error).message}`).join('; ')}. ${explainGpioChoice({ sysfsRoot: ctx.probes.sysfsRoot }).split('\n').join('; ')}`,
  };
}

async function checkOnoff(ctx: CheckContext, pins: { use: string; pin: number }[]): Promise<string> {
  await ctx.probes.loadOnoff();
  await checkSysfsExportable(ctx.probes.sysfsRoot);
  const mapped: string[] = [];
  for (const p of pins) {
    const { sysfsNumber, chip } = await mapBcmPinToSysfs(p.pin, ctx.probes.sysfsRoot);
    mapped.push(`${p.use} ${p.pin} → gpio${sysfsNumber} on ${chip.label}`);
  }
  return mapped.join(', ') || pinList(pins);
}

async function checkGpiod(ctx: CheckContext, pins: { use: string; pin: number }[]): Promise<string> {
  let out: RunResult;
  try {
    out = await ctx.probes.run('gpiodetect', []);
  } catch (err) {
    throw explainGpiodFailure('gpiodetect', (err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  if (out.code !== 0) throw explainGpiodFailure('gpiodetect', out.stderr || `exit code ${out.code}`);
  const chips = parseGpiodetect(out.stdout);
  const chip = findPinctrlChip(chips);
  if (!chip) {
    const found = chips.map((c) => `${c.name} [${c.label}]`).join(', ') || 'none (or none this user may open)';
    throw new GpioError('chip-not-found', `no Raspberry Pi GPIO controller among the GPIO chips (found: ${found})`);
  }
  const outside = pins.filter((p) => p.pin >= chip.lines);
  if (outside.length) {
    throw new GpioError(
      'pin-out-of-range',
      `${outside.map((p) => `${p.use} pin ${p.pin}`).join(', ')} not on ${chip.name} [${chip.label}] (lines 0 to ${chip.lines - 1})`,
    );
  }
  return `${chip.name} [${chip.label}], ${chip.lines} lines; ${pinList(pins)}`;
}

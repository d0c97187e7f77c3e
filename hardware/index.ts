/** GPIO for the doorbell: backends (simulated, onoff/sysfs, gpiod/character device), button, PIR, outputs. */
import type { Logger } from '../agent/log.js';
import { chooseGpioBackend, probeGpioEnvironment, type GpioProbeOptions } from './auto.js';
import { GpiodGpio } from './gpiod.js';
import type { Gpio, GpioBackend } from './gpio.js';
import { OnoffGpio } from './onoff.js';
import { SimulatedGpio } from './simulated.js';

export type { DigitalInput, DigitalOutput, Edge, Gpio, GpioBackend, GpioErrorKind, Level, LineOptions } from './gpio.js';
export { GpioError, PI_PINCTRL_LABELS } from './gpio.js';
export { Button, type ButtonDeps, type ButtonEvents } from './button.js';
export { MotionSensor, type MotionEvents, type MotionSensorDeps } from './pir.js';
export { Chime, StatusLed, type LedMode } from './outputs.js';
export { SimulatedGpio, type OutputWrite } from './simulated.js';
export {
  chooseGpioBackend,
  explainGpioChoice,
  probeGpioEnvironment,
  type GpioChoice,
  type GpioEnvironment,
  type GpioProbeOptions,
} from './auto.js';
export { OnoffGpio, loadOnoff, type OnoffGpioOptions, type OnoffModule, type OnoffLine } from './onoff.js';
export { GpiodGpio, type GpiodGpioOptions } from './gpiod.js';
export {
  checkSysfsExportable,
  explainSysfsError,
  mapBcmPinToSysfs,
  readSysfsGpioChips,
  type SysfsGpioChip,
} from './sysfs.js';
export {
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
  type GpiomonEvent,
  type LibgpiodMajor,
} from './libgpiod.js';

export interface CreateGpioOptions {
  log: Logger;
  /** Where sysfs is mounted, for the onoff backend's pin mapping and `auto`'s probe (default `/sys`). */
  sysfsRoot?: string;
  /** Where `auto` looks besides sysfs (default: /dev, $PATH, this install's onoff). */
  probe?: Omit<GpioProbeOptions, 'sysfsRoot'>;
}

/**
 * Builds the configured backend; nothing touches the hardware until a line's start(). `auto` looks
 * at the machine now (a few stat calls) and throws a GpioError listing the fixes when nothing fits.
 */
export function createGpio(backend: 'simulated', opts: CreateGpioOptions): SimulatedGpio;
export function createGpio(backend: GpioBackend, opts: CreateGpioOptions): Gpio;
export function createGpio(backend: GpioBackend, opts: CreateGpioOptions): Gpio {
  switch (backend) {
    case 'simulated':
      return new SimulatedGpio();
    case 'onoff':
      return new OnoffGpio({ log: opts.log, sysfsRoot: opts.sysfsRoot });
    case 'gpiod':
      return new GpiodGpio({ log: opts.log });
    case 'auto': {
      const choice = chooseGpioBackend(probeGpioEnvironment({ ...opts.probe, sysfsRoot: opts.sysfsRoot }));
      opts.log.info(`gpio.backend auto: using ${choice.backend}`, { why: choice.why });
      return createGpio(choice.backend, opts);
    }
  }
}

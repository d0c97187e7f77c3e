/** GPIO for the doorbell: backends (simulated, onoff/sysfs, gpiod/character device), button, PIR, outputs. */
import type { Logger } from '../agent/log.js';
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
  /** Where sysfs is mounted, for the onoff backend's pin mapping (default `/sys`). */
  sysfsRoot?: string;
}

/** Builds the configured backend; nothing touches the hardware until a line's start(). */
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
  }
}

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import {
  createGpio,
  explainSysfsError,
  GpioError,
  loadOnoff,
  mapBcmPinToSysfs,
  OnoffGpio,
  type Edge,
  type OnoffLine,
  type OnoffModule,
} from '../../hardware/index.js';

const temp = mkdtempSync(join(tmpdir(), 'gpio-sysfs-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

let trees = 0;
/** A fake /sys with the given gpiochips (name from base, as the kernel does), plus export files and an exported line. */
function sysfs(chips: [label: string, base: number, ngpio: number][]): string {
  const root = join(temp, `tree${trees++}`);
  const dir = join(root, 'class', 'gpio');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'export'), '');
  writeFileSync(join(dir, 'unexport'), '');
  mkdirSync(join(dir, 'gpio529'));
  for (const [label, base, ngpio] of chips) {
    const chip = join(dir, `gpiochip${base}`);
    mkdirSync(chip);
    writeFileSync(join(chip, 'label'), `${label}\n`);
    writeFileSync(join(chip, 'base'), `${base}\n`);
    writeFileSync(join(chip, 'ngpio'), `${ngpio}\n`);
  }
  return root;
}

const PI5_KERNEL_6_6: [string, number, number][] = [
  ['gpio-brcmstb@107d508500', 512, 32],
  ['gpio-brcmstb@107d508520', 544, 4],
  ['gpio-brcmstb@107d517c00', 548, 17],
  ['gpio-brcmstb@107d517c20', 565, 6],
  ['pinctrl-rp1', 571, 54],
];

describe('mapBcmPinToSysfs', () => {
  it.each([
    ['Pi 3, kernel < 6.6', [['pinctrl-bcm2835', 0, 54], ['raspberrypi-exp-gpio', 504, 8]], 17],
    ['Pi 3, kernel ≥ 6.6', [['pinctrl-bcm2835', 512, 54], ['raspberrypi-exp-gpio', 566, 8]], 529],
    ['Pi 4, kernel < 6.6', [['pinctrl-bcm2711', 0, 58], ['raspberrypi-exp-gpio', 504, 8]], 17],
    ['Pi 4, kernel ≥ 6.6', [['raspberrypi-exp-gpio', 570, 8], ['pinctrl-bcm2711', 512, 58]], 529],
    ['Pi 5, kernel ≥ 6.6', PI5_KERNEL_6_6, 588],
    ['Pi 5, RP1 at base 0 beside other chips', [['pinctrl-rp1', 0, 54], ['raspberrypi-exp-gpio', 54, 8]], 17],
  ] as [string, [string, number, number][], number][])('%s: BCM 17 → sysfs %i', async (_name, chips, expected) => {
    const { sysfsNumber } = await mapBcmPinToSysfs(17, sysfs(chips));
    expect(sysfsNumber).toBe(expected);
  });

  it('says to use the gpiod backend when sysfs GPIO is absent', async () => {
    const root = join(temp, 'no-gpio');
    mkdirSync(join(root, 'class'), { recursive: true });
    const err = await mapBcmPinToSysfs(17, root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpioError);
    expect(err).toMatchObject({ kind: 'unavailable' });
    expect((err as Error).message).toMatch(/class\/gpio does not exist.*"gpiod"/);
  });

  it('names the chips it found when none is the Pi pin controller', async () => {
    const err = await mapBcmPinToSysfs(17, sysfs([['raspberrypi-exp-gpio', 512, 8]])).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'chip-not-found' });
    expect((err as Error).message).toContain('gpiochip512 "raspberrypi-exp-gpio"');
  });

  it('refuses a pin beyond the controller', async () => {
    const root = sysfs(PI5_KERNEL_6_6);
    await expect(mapBcmPinToSysfs(53, root)).resolves.toMatchObject({ sysfsNumber: 624 });
    await expect(mapBcmPinToSysfs(54, root)).rejects.toMatchObject({ kind: 'pin-out-of-range' });
    await expect(mapBcmPinToSysfs(-1, root)).rejects.toMatchObject({ kind: 'pin-out-of-range' });
  });

  it('explains permission errors with the gpio group', () => {
    const err = explainSysfsError(Object.assign(new Error('EACCES'), { code: 'EACCES' }), '/sys/class/gpio/export');
    expect(err).toMatchObject({ kind: 'permission' });
    expect(err.message).toMatch(/"gpio" group/);
  });
});

/** A stand-in for onoff's Gpio: records what the backend asked of the kernel. */
function fakeOnoff(initialRaw: 0 | 1) {
  const lines: FakeLine[] = [];
  class FakeLine implements OnoffLine {
    value: 0 | 1;
    writes: (0 | 1)[] = [];
    unexported = false;
    watcher: ((err: Error | null | undefined, value: 0 | 1) => void) | null = null;
    constructor(
      readonly gpio: number,
      readonly direction: string,
      readonly edge: string,
      readonly options: { activeLow: boolean },
    ) {
      this.value = direction === 'high' ? 1 : direction === 'low' ? 0 : initialRaw;
      lines.push(this);
    }
    readSync() {
      return this.value;
    }
    writeSync(value: 0 | 1) {
      this.writes.push(value);
    }
    watch(callback: (err: Error | null | undefined, value: 0 | 1) => void) {
      this.watcher = callback;
    }
    unexport() {
      this.unexported = true;
    }
  }
  const module: OnoffModule = { Gpio: FakeLine };
  return { lines, load: async () => module };
}

describe('OnoffGpio', () => {
  it('exports the mapped sysfs number, inverts active-low edges, and unexports on stop', async () => {
    const { lines, load } = fakeOnoff(1);
    const gpio = new OnoffGpio({ log: silentLogger, sysfsRoot: sysfs(PI5_KERNEL_6_6), load });
    const input = gpio.input(17, { activeLow: true });
    const edges: Edge[] = [];
    input.on('edge', (e) => edges.push(e));
    await input.start();
    const line = lines[0]!;
    expect([line.gpio, line.direction, line.edge, line.options]).toEqual([588, 'in', 'both', { activeLow: false }]);
    expect(input.read()).toBe(0); // idle high on an active-low button
    line.watcher!(null, 0);
    expect(edges).toEqual([{ value: 1, at: expect.any(Number) }]);
    expect(input.read()).toBe(1);
    await input.stop();
    expect(line.unexported).toBe(true);
  });

  it('exports an active-low output straight into its inactive level and leaves it inactive', async () => {
    const { lines, load } = fakeOnoff(0);
    const gpio = new OnoffGpio({ log: silentLogger, sysfsRoot: sysfs([['pinctrl-bcm2711', 512, 58]]), load });
    const output = gpio.output(22, { activeLow: true });
    await output.start();
    output.write(1);
    await output.stop();
    const line = lines[0]!;
    expect([line.gpio, line.direction]).toEqual([534, 'high']);
    expect(line.writes).toEqual([0, 1]);
    expect(line.unexported).toBe(true);
  });

  it('fails with the gpiod hint, through createGpio, where sysfs GPIO is gone', async () => {
    const root = join(temp, 'bookworm-without-sysfs');
    mkdirSync(root);
    const input = createGpio('onoff', { log: silentLogger, sysfsRoot: root }).input(17, { activeLow: true });
    await expect(input.start()).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('loads the installed onoff package lazily', async () => {
    expect(typeof (await loadOnoff()).Gpio).toBe('function');
  });
});

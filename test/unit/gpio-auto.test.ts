/** `gpio.backend: auto` against fake machines: sysfs trees, /dev/gpiochip* and gpiod tools in temp folders. */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseGpioBackend, createGpio, explainGpioChoice, GpioError, GpiodGpio, OnoffGpio, probeGpioEnvironment } from '../../hardware/index.js';
import { silentLogger } from '../../agent/log.js';

const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Machine {
  sysfs?: boolean;
  chips?: number;
  tools?: boolean;
}

/** A fake machine; returns the probe options pointing at it. */
function machine(m: Machine): { sysfsRoot: string; devRoot: string; path: string } {
  const root = mkdtempSync(join(tmpdir(), 'gpio-auto-'));
  dirs.push(root);
  const sysfsRoot = join(root, 'sys');
  const devRoot = join(root, 'dev');
  const bin = join(root, 'bin');
  mkdirSync(join(sysfsRoot, 'class'), { recursive: true });
  mkdirSync(devRoot);
  mkdirSync(bin);
  if (m.sysfs) {
    mkdirSync(join(sysfsRoot, 'class', 'gpio'));
    writeFileSync(join(sysfsRoot, 'class', 'gpio', 'export'), '');
  }
  for (let i = 0; i < (m.chips ?? 0); i++) writeFileSync(join(devRoot, `gpiochip${i}`), '');
  if (m.tools) {
    for (const tool of ['gpiomon', 'gpioset']) {
      writeFileSync(join(bin, tool), '#!/bin/sh\n');
      chmodSync(join(bin, tool), 0o755);
    }
  }
  return { sysfsRoot, devRoot, path: bin };
}

describe('gpio.backend auto', () => {
  it('picks onoff where sysfs GPIO works and onoff is installed', () => {
    const env = probeGpioEnvironment({ ...machine({ sysfs: true, chips: 2, tools: true }), onoffInstalled: () => true });
    expect(chooseGpioBackend(env).backend).toBe('onoff');
  });

  it('picks gpiod where sysfs GPIO is gone and the character device and tools are there', () => {
    const m = machine({ sysfs: false, chips: 2, tools: true });
    const choice = chooseGpioBackend(probeGpioEnvironment({ ...m, onoffInstalled: () => true }));
    expect(choice.backend).toBe('gpiod');
    expect(choice.why).toContain('this kernel has no sysfs GPIO');
    expect(choice.why).toContain(join(m.devRoot, 'gpiochip0'));
  });

  it('picks gpiod when sysfs GPIO exists but onoff is not installed', () => {
    const env = probeGpioEnvironment({ ...machine({ sysfs: true, chips: 1, tools: true }), onoffInstalled: () => false });
    expect(chooseGpioBackend(env)).toMatchObject({ backend: 'gpiod', why: expect.stringContaining('onoff package is not installed') });
  });

  it('explains every missing piece when nothing fits', () => {
    const env = probeGpioEnvironment({ ...machine({ sysfs: false, chips: 1, tools: false }), onoffInstalled: () => true });
    let error: unknown;
    try {
      chooseGpioBackend(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GpioError);
    expect((error as GpioError).kind).toBe('missing-dependency');
    expect((error as Error).message).toMatch(/this kernel has none/);
    expect((error as Error).message).toMatch(/sudo apt install gpiod/);
  });

  it('calls a machine without any GPIO unavailable', () => {
    const env = probeGpioEnvironment({ ...machine({}), onoffInstalled: () => false });
    expect(() => chooseGpioBackend(env)).toThrow(expect.objectContaining({ kind: 'unavailable', message: expect.stringMatching(/no \/dev\/gpiochip\*/) }));
  });

  it('explains the choice for doorbell doctor, line by line', () => {
    const text = explainGpioChoice({ ...machine({ sysfs: false, chips: 1, tools: true }), onoffInstalled: () => false });
    expect(text.split('\n')).toEqual([
      'sysfs GPIO: absent',
      'onoff package: not installed',
      expect.stringMatching(/^character devices: .*gpiochip0$/),
      expect.stringMatching(/^gpiod tools: /),
      expect.stringMatching(/^auto picks gpiod: this kernel has no sysfs GPIO/),
    ]);
  });

  it('builds the chosen backend through createGpio', () => {
    const gpiodMachine = machine({ sysfs: false, chips: 1, tools: true });
    const { sysfsRoot, ...probe } = gpiodMachine;
    expect(createGpio('auto', { log: silentLogger, sysfsRoot, probe: { ...probe, onoffInstalled: () => true } })).toBeInstanceOf(GpiodGpio);
    const sysfsMachine = machine({ sysfs: true });
    expect(createGpio('auto', { log: silentLogger, sysfsRoot: sysfsMachine.sysfsRoot, probe: { devRoot: sysfsMachine.devRoot, onoffInstalled: () => true } })).toBeInstanceOf(OnoffGpio);
    const bare = machine({});
    expect(() => createGpio('auto', { log: silentLogger, sysfsRoot: bare.sysfsRoot, probe: { devRoot: bare.devRoot, path: bare.path } })).toThrow(GpioError);
  });
});

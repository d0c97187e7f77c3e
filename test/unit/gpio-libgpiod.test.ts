import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  eventWallMs,
  explainGpiodFailure,
  findPinctrlChip,
  gpiomonArgs,
  gpiosetArgs,
  parseGpiodetect,
  parseGpioget,
  parseGpiomonLine,
  parseLibgpiodVersion,
  type LibgpiodMajor,
} from '../../hardware/index.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/gpio/${name}`, import.meta.url), 'utf8');
const events = (name: string, major: LibgpiodMajor) =>
  fixture(name)
    .split('\n')
    .filter(Boolean)
    .map((line) => parseGpiomonLine(line, major));

describe('libgpiod tools', () => {
  it('detects the major version from gpiomon --version', () => {
    expect(parseLibgpiodVersion(fixture('gpiomon-v1-version.txt'))).toBe(1);
    expect(parseLibgpiodVersion(fixture('gpiomon-v2-version.txt'))).toBe(2);
    expect(() => parseLibgpiodVersion('gpiomon (libgpiod) v3.0.0')).toThrow(/not supported/);
    expect(() => parseLibgpiodVersion('bash: gpiomon: command not found')).toThrow(/cannot read the libgpiod version/);
  });

  it('finds the Pi pin controller in gpiodetect output of both versions', () => {
    expect(findPinctrlChip(parseGpiodetect(fixture('gpiodetect-v1-pi4.txt')))).toEqual({
      name: 'gpiochip0',
      label: 'pinctrl-bcm2711',
      lines: 58,
    });
    expect(findPinctrlChip(parseGpiodetect(fixture('gpiodetect-v1-pi5-kernel6.1.txt')))?.name).toBe('gpiochip4');
    const pi5 = parseGpiodetect(fixture('gpiodetect-v2-pi5.txt'));
    expect(pi5).toHaveLength(5);
    expect(findPinctrlChip(pi5)).toEqual({ name: 'gpiochip0', label: 'pinctrl-rp1', lines: 54 });
    expect(findPinctrlChip(parseGpiodetect(fixture('gpiodetect-v2-not-a-pi.txt')))).toBeUndefined();
  });

  it('parses 1.x default output, with its right-aligned seconds', () => {
    const parsed = events('gpiomon-v1-default.txt', 1);
    expect(parsed[0]).toEqual({ offset: 17, edge: 'falling', timestampNs: 5234_118204551n });
    expect(parsed[1]).toEqual({ offset: 17, edge: 'rising', timestampNs: 5234_119367102n });
    expect(parsed.map((e) => e?.edge)).toEqual(['falling', 'rising', 'falling', 'rising', 'falling', 'rising']);
  });

  it('parses 1.x custom format, whose nanoseconds are not zero-padded', () => {
    expect(events('gpiomon-v1-format.txt', 1)).toEqual([
      { offset: 17, edge: 'falling', timestampNs: 5234_004020551n },
      { offset: 17, edge: 'rising', timestampNs: 5234_005367102n },
      { offset: 17, edge: 'falling', timestampNs: 5234_121002730n },
      { offset: 17, edge: 'rising', timestampNs: 5234_402113877n },
    ]);
  });

  it('parses 2.x custom format (1 rising, 2 falling) and default output to the same events', () => {
    const custom = events('gpiomon-v2-format.txt', 2);
    expect(custom).toEqual(events('gpiomon-v1-format.txt', 1));
    const defaults = events('gpiomon-v2-default.txt', 2);
    expect(defaults.map((e) => e?.edge)).toEqual(['falling', 'rising', 'falling', 'rising']);
    expect(defaults[0]).toEqual({ offset: 17, edge: 'falling', timestampNs: 5234_118204551n });
  });

  it('does not mistake other lines, or the other version’s edge codes, for events', () => {
    expect(parseGpiomonLine("Monitoring line '17'...", 2)).toBeNull();
    expect(parseGpiomonLine('17 0 5234.004020551', 2)).toBeNull(); // 0 is not an edge code in 2.x
    expect(parseGpiomonLine('17 2 5234 4020551', 1)).toBeNull();
  });

  it('reads gpioget output of both versions', () => {
    expect(parseGpioget(fixture('gpioget-v1.txt'))).toBe(1);
    expect(parseGpioget(fixture('gpioget-v2.txt'))).toBe(1);
    expect(parseGpioget('17=inactive\n')).toBe(0);
    expect(() => parseGpioget('gpioget: unable to request lines')).toThrow(/unexpected gpioget output/);
  });

  it('builds each version’s arguments', () => {
    expect(gpiomonArgs(1, 'gpiochip0', 17)).toEqual([
      '--num-events=0',
      '--line-buffered',
      '--format=%o %e %s %n',
      'gpiochip0',
      '17',
    ]);
    expect(gpiomonArgs(2, 'gpiochip4', 17)).toEqual(['--chip', 'gpiochip4', '--format', '%o %e %S', '17']);
    expect(gpiosetArgs(1, 'gpiochip0', 22, 1)).toEqual(['--mode=signal', 'gpiochip0', '22=1']);
    expect(gpiosetArgs(2, 'gpiochip0', 22, 0)).toEqual(['--chip', 'gpiochip0', '22=0']);
  });

  it('turns monotonic event stamps into wall time by their age, and keeps realtime ones', () => {
    const nowMs = Date.parse('2026-03-01T12:00:00.000Z');
    expect(eventWallMs(5234_118204551n, nowMs, 5234_418204551n)).toBe(nowMs - 300);
    expect(eventWallMs(BigInt(nowMs - 40) * 1_000_000n, nowMs, 5234_000000000n)).toBe(nowMs - 40);
    expect(eventWallMs(1_000n, nowMs, 5234_000000000n)).toBe(nowMs); // not comparable: now
  });

  it('explains tool failures with what to do', () => {
    expect(
      explainGpiodFailure('gpiomon', "gpiomon: unable to open chip '/dev/gpiochip0': Permission denied", 17),
    ).toMatchObject({ kind: 'permission', message: expect.stringContaining('"gpio" group') });
    expect(
      explainGpiodFailure('gpioset', 'gpioset: unable to request lines on chip /dev/gpiochip0: Device or resource busy', 22),
    ).toMatchObject({ kind: 'busy' });
    expect(explainGpiodFailure('gpiomon', 'spawn gpiomon ENOENT')).toMatchObject({
      kind: 'missing-dependency',
      message: expect.stringContaining('apt install gpiod'),
    });
  });
});

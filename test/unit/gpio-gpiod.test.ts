import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../agent/log.js';
import { GpiodGpio, type Edge } from '../../hardware/index.js';

const fixtures = fileURLToPath(new URL('../fixtures/gpio/', import.meta.url));
const temp = mkdtempSync(join(tmpdir(), 'gpio-gpiod-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

function capturingLogger() {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: 'debug', sink: { write: (line) => void lines.push(line) } }) };
}

let dirs = 0;
/** Stand-ins for Debian's gpiod tools, as shell scripts printing what the real ones print. */
function fakeTools(major: 1 | 2, scripts: Partial<Record<'gpiomon' | 'gpiodetect' | 'gpioget' | 'gpioset', string>> = {}) {
  const dir = join(temp, `bin${dirs++}`);
  mkdirSync(dir);
  const calls = join(dir, 'calls.log');
  // Run 1 of gpiomon reports a press, then dies (after start() saw it settle) and misses the release; run 2 reports the next press and stays up.
  // Edge codes: 1.x 0 falling / 1 rising, seconds and unpadded nanoseconds; 2.x 2 falling / 1 rising, seconds.nanoseconds.
  const event = (code: string): string =>
    major === 1 ? `echo "17 ${code} $(date +%s) $(date +%N | sed 's/^0*//')"` : `echo "17 ${code} $(date +%s.%N)"`;
  const falling = event(major === 1 ? '0' : '2');
  const defaults = {
    gpiomon: `
if [ "$1" = "--version" ]; then cat "${fixtures}gpiomon-v${major}-version.txt"; exit 0; fi
echo "gpiomon $*" >> "${calls}"
if [ ! -e "${dir}/gpiomon.ran" ]; then
  touch "${dir}/gpiomon.ran"
  ${falling}
  sleep 0.4
  echo "gpiomon: error waiting for events: simulated failure" >&2
  exit 1
fi
${falling}
exec sleep 30`,
    gpiodetect: `cat "${fixtures}${major === 1 ? 'gpiodetect-v1-pi5-kernel6.1.txt' : 'gpiodetect-v2-pi5.txt'}"`,
    gpioget: `echo "gpioget $*" >> "${calls}"; cat "${fixtures}gpioget-v${major}.txt"`,
    gpioset: `echo "gpioset $*" >> "${calls}"; exec sleep 30`,
  };
  for (const [tool, body] of Object.entries({ ...defaults, ...scripts })) {
    writeFileSync(join(dir, tool), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  return { dir, calls: () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : []) };
}

describe('GpiodGpio', () => {
  it.each([1, 2] as const)('libgpiod %i: follows gpiomon, restarts it when it dies, and catches up', async (major) => {
    const tools = fakeTools(major);
    const { lines, log } = capturingLogger();
    const input = new GpiodGpio({ log, binDir: tools.dir, restartMs: 20 }).input(17, { activeLow: true });
    const edges: Edge[] = [];
    input.on('edge', (e) => edges.push(e));
    const before = Date.now();
    await input.start();
    await vi.waitFor(() => expect(edges).toHaveLength(3), { timeout: 5_000 });
    await input.stop();
    // press, the release found by gpioget before the restart, the next press
    expect(edges.map((e) => e.value)).toEqual([1, 0, 1]);
    expect(input.read()).toBe(1);
    for (const { at } of edges) expect(at).toBeGreaterThanOrEqual(before - 1_000);
    const chip = major === 1 ? 'gpiochip4' : 'gpiochip0';
    const monArgs = major === 1 ? `--num-events=0 --line-buffered --format=%o %e %s %n ${chip} 17` : `--chip ${chip} --format %o %e %S 17`;
    expect(tools.calls().filter((c) => c.startsWith('gpiomon'))).toEqual([`gpiomon ${monArgs}`, `gpiomon ${monArgs}`]);
    expect(tools.calls().filter((c) => c.startsWith('gpioget'))).toHaveLength(2); // at start, and before the restart
    expect(lines.some((l) => l.includes('gpiomon exited; restarting') && l.includes('simulated failure'))).toBe(true);
  });

  it('holds an output with gpioset, replaced on each write, inactive at start and stop', async () => {
    const tools = fakeTools(2);
    const output = new GpiodGpio({ log: capturingLogger().log, binDir: tools.dir }).output(22, { activeLow: true });
    await output.start();
    output.write(1);
    await vi.waitFor(() => expect(tools.calls()).toHaveLength(2), { timeout: 5_000 });
    await output.stop();
    expect(tools.calls()).toEqual([
      'gpioset --chip gpiochip0 22=1', // active low: inactive is high
      'gpioset --chip gpiochip0 22=0',
      'gpioset --chip gpiochip0 22=1',
    ]);
  });

  it('fails clearly when the tools are missing, the chip is not a Pi, or the user lacks permission', async () => {
    const log = capturingLogger().log;
    const empty = join(temp, 'empty-bin');
    mkdirSync(empty);
    await expect(new GpiodGpio({ log, binDir: empty }).input(17, { activeLow: true }).start()).rejects.toMatchObject({
      kind: 'missing-dependency',
    });
    const notPi = fakeTools(2, { gpiodetect: `cat "${fixtures}gpiodetect-v2-not-a-pi.txt"` });
    await expect(new GpiodGpio({ log, binDir: notPi.dir }).input(17, { activeLow: true }).start()).rejects.toMatchObject({
      kind: 'chip-not-found',
      message: expect.stringContaining('gpiochip0 [INT34C6:00]'),
    });
    const denied = fakeTools(2, {
      gpioget: `echo "gpioget: unable to request lines on chip '/dev/gpiochip0': Permission denied" >&2; exit 1`,
    });
    await expect(new GpiodGpio({ log, binDir: denied.dir }).input(17, { activeLow: true }).start()).rejects.toMatchObject({
      kind: 'permission',
    });
    await expect(new GpiodGpio({ log, binDir: denied.dir }).input(54, { activeLow: true }).start()).rejects.toMatchObject({
      kind: 'pin-out-of-range',
    });
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Button, SimulatedGpio } from '../../hardware/index.js';

const PIN = 17;
const T0 = Date.parse('2026-03-01T12:00:00.000Z');

function setup(opts: { activeLow?: boolean; debounceMs?: number; longPressSeconds?: number } = {}) {
  const gpio = new SimulatedGpio();
  const input = gpio.input(PIN, { activeLow: opts.activeLow ?? true });
  const button = new Button({ input, debounceMs: opts.debounceMs ?? 30, longPressSeconds: opts.longPressSeconds ?? 5 });
  const events: { type: string; at: number; heldMs?: number }[] = [];
  button.on('press', (e) => events.push({ type: 'press', ...e }));
  button.on('release', (e) => events.push({ type: 'release', ...e }));
  button.on('long-press', (e) => events.push({ type: 'long-press', ...e }));
  return { gpio, input, button, events };
}

describe('Button', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('turns 10 bounce pulses within 20 ms into one press stamped at the first edge', async () => {
    const { gpio, button, events } = setup();
    await button.start();
    // Active low: contact closed = raw 0. Ten closures, each bouncing open, over 19 ms, ending closed.
    for (let i = 0; i < 10; i++) {
      vi.setSystemTime(T0 + 2 * i);
      gpio.set(PIN, 0);
      if (i < 9) {
        vi.setSystemTime(T0 + 2 * i + 1);
        gpio.set(PIN, 1);
      }
    }
    await vi.advanceTimersByTimeAsync(200);
    expect(events).toEqual([{ type: 'press', at: T0 }]);
  });

  it('counts a press that a busy event loop delivers late, all at once, by its edge timestamps', async () => {
    const { gpio, button, events } = setup();
    await button.start();
    // Pressed at T0, released at T0+150 (with bounce), but every edge reaches us only at T0+400.
    vi.setSystemTime(T0 + 400);
    for (const [raw, at] of [[0, T0], [1, T0 + 2], [0, T0 + 4], [1, T0 + 150], [0, T0 + 152], [1, T0 + 155]] as const) {
      gpio.set(PIN, raw, at);
    }
    await vi.advanceTimersByTimeAsync(200);
    expect(events).toEqual([
      { type: 'press', at: T0 },
      { type: 'release', at: T0 + 150, heldMs: 150 },
    ]);
  });

  it('rings on the first edge, before any timer runs (leading edge)', async () => {
    const { gpio, button, events } = setup();
    await button.start();
    gpio.set(PIN, 0);
    expect(events).toEqual([{ type: 'press', at: T0 }]);
  });

  it.each([0, 30])('gives one press and one release per bounced press at debounceMs %i', async (debounceMs) => {
    const { gpio, button, events } = setup({ debounceMs });
    await button.start();
    for (let i = 0; i < 3; i++) {
      await Promise.all([gpio.press(PIN, 150), vi.advanceTimersByTimeAsync(300)]);
    }
    expect(events.map((e) => e.type)).toEqual(['press', 'release', 'press', 'release', 'press', 'release']);
    expect(events.filter((e) => e.type === 'release').map((e) => e.heldMs)).toEqual([150, 150, 150]);
  });

  it('at debounceMs 0 counts presses 20 ms apart, each with its contact bounce', async () => {
    const { gpio, button, events } = setup({ debounceMs: 0 });
    await button.start();
    // Active low: 0 = closed. Each press bounces 3 edges on closing and 3 on opening, 9 ms later.
    for (let ring = 0; ring < 100; ring++) {
      const t = T0 + ring * 20;
      for (const [raw, dt] of [[0, 0], [1, 1], [0, 2], [1, 9], [0, 10], [1, 11]] as const) gpio.set(PIN, raw, t + dt);
      await vi.advanceTimersByTimeAsync(20);
    }
    await vi.advanceTimersByTimeAsync(100);
    expect(events.filter((e) => e.type === 'press')).toHaveLength(100);
    expect(events.filter((e) => e.type === 'release')).toHaveLength(100);
  });

  it('puts the level right when a glitch ends inside its own bounce window', async () => {
    const { gpio, button, events } = setup();
    await button.start();
    gpio.set(PIN, 0);
    await vi.advanceTimersByTimeAsync(2);
    gpio.set(PIN, 1);
    await vi.advanceTimersByTimeAsync(500);
    expect(events).toEqual([
      { type: 'press', at: T0 },
      { type: 'release', at: T0 + 2, heldMs: 2 },
    ]);
  });

  it('reports the release with how long the button was held', async () => {
    const { gpio, button, events } = setup();
    await button.start();
    await Promise.all([gpio.press(PIN, 150), vi.advanceTimersByTimeAsync(300)]);
    expect(events).toEqual([
      { type: 'press', at: T0 },
      { type: 'release', at: T0 + 150, heldMs: 150 },
    ]);
  });

  it('rings at once and adds one long press when held 5 s', async () => {
    const { gpio, button, events } = setup();
    await button.start();
    void gpio.press(PIN, 6_000);
    await vi.advanceTimersByTimeAsync(100);
    expect(events).toEqual([{ type: 'press', at: T0 }]);
    await vi.advanceTimersByTimeAsync(4_899); // T0 + 4999 ms: not yet
    expect(events.filter((e) => e.type === 'long-press')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(events.at(-1)).toEqual({ type: 'long-press', at: T0 + 5_000 });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(events.map((e) => e.type)).toEqual(['press', 'long-press', 'release']);
    expect(events.at(-1)).toEqual({ type: 'release', at: T0 + 6_000, heldMs: 6_000 });
  });

  it('gives no long press for a 4 s hold', async () => {
    const { gpio, button, events } = setup();
    await button.start();
    await Promise.all([gpio.press(PIN, 4_000), vi.advanceTimersByTimeAsync(10_000)]);
    expect(events.map((e) => e.type)).toEqual(['press', 'release']);
  });

  it('gives no long press when the release began just before 5 s, though it settles after', async () => {
    const { gpio, button, events } = setup();
    await button.start();
    await Promise.all([gpio.press(PIN, 4_995), vi.advanceTimersByTimeAsync(10_000)]);
    expect(events.map((e) => e.type)).toEqual(['press', 'release']);
  });

  it.each([
    { activeLow: true, pressedRaw: 0 },
    { activeLow: false, pressedRaw: 1 },
  ] as const)('inverts active-low wiring (activeLow $activeLow)', async ({ activeLow, pressedRaw }) => {
    const { gpio, input, button, events } = setup({ activeLow });
    await button.start();
    expect(input.read()).toBe(0);
    gpio.set(PIN, pressedRaw);
    expect(input.read()).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(events).toEqual([{ type: 'press', at: T0 }]);
  });

  it('does not report a press for a button already held at start, nor its release', async () => {
    const { gpio, button, events } = setup();
    gpio.set(PIN, 0);
    await button.start();
    vi.setSystemTime(T0 + 1_000);
    gpio.set(PIN, 1);
    await vi.advanceTimersByTimeAsync(7_000);
    expect(events).toEqual([]);
  });

  it('stops following the input after stop()', async () => {
    const { gpio, button, events } = setup();
    await button.start();
    await button.stop();
    await Promise.all([gpio.press(PIN, 150), vi.advanceTimersByTimeAsync(300)]);
    expect(events).toEqual([]);
  });
});

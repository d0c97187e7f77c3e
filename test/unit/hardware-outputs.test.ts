import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Chime, SimulatedGpio, StatusLed } from '../../hardware/index.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');

describe('Chime and StatusLed', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('pulses the chime relay for pulseMs, and a second ring lengthens the pulse', async () => {
    const gpio = new SimulatedGpio();
    const chime = new Chime({ output: gpio.output(22, { activeLow: true }), pulseMs: 300 });
    await chime.start();
    chime.ring();
    await vi.advanceTimersByTimeAsync(200);
    chime.ring();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(gpio.writes(22).map(({ value, raw, at }) => [value, raw, at - T0])).toEqual([
      [0, 1, 0], // start: relay off (an active-low relay board is off when the line is high)
      [1, 0, 0],
      [1, 0, 200],
      [0, 1, 500],
    ]);
  });

  it('shows steady for ok, slow blink for pairing, fast blink for a fault, and turns off on stop', async () => {
    const gpio = new SimulatedGpio();
    const led = new StatusLed({ output: gpio.output(23, { activeLow: false }) });
    await led.start();
    await vi.advanceTimersByTimeAsync(2_000);
    const steady = gpio.writes(23).length;
    expect(gpio.writes(23).at(-1)?.value).toBe(1);

    led.set('pairing');
    await vi.advanceTimersByTimeAsync(2_000);
    const slow = gpio.writes(23).length - steady;
    led.set('fault');
    await vi.advanceTimersByTimeAsync(2_000);
    const fast = gpio.writes(23).length - steady - slow;
    expect(steady).toBe(2); // start's off, then on: no blinking
    expect(slow).toBe(5); // on, then 4 toggles at 500 ms
    expect(fast).toBe(21); // on, then 20 toggles at 100 ms

    await led.stop();
    const after = gpio.writes(23).length;
    expect(gpio.writes(23).at(-1)?.value).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(gpio.writes(23).length).toBe(after);
  });
});

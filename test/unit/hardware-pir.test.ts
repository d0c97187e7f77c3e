import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MotionSensor, SimulatedGpio } from '../../hardware/index.js';

const PIN = 27;
const T0 = Date.parse('2026-03-01T12:00:00.000Z');

function setup(activeLow = false, rearmSeconds = 10) {
  const gpio = new SimulatedGpio();
  const pir = new MotionSensor({ input: gpio.input(PIN, { activeLow }), rearmSeconds });
  const motions: number[] = [];
  pir.on('motion', ({ at }) => motions.push(at));
  return { gpio, pir, motions };
}

describe('MotionSensor', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports motion on the rising edge, not on the falling one', async () => {
    const { gpio, pir, motions } = setup();
    await pir.start();
    await Promise.all([gpio.pulse(PIN, 2_000), vi.advanceTimersByTimeAsync(2_000)]);
    expect(motions).toEqual([T0]);
  });

  it('ignores motion within the re-arm time and reports it again after', async () => {
    const { gpio, pir, motions } = setup(false, 10);
    await pir.start();
    await Promise.all([gpio.pulse(PIN, 2_000), vi.advanceTimersByTimeAsync(5_000)]); // T0 + 5 s
    await Promise.all([gpio.pulse(PIN, 2_000), vi.advanceTimersByTimeAsync(5_000)]); // T0 + 10 s: re-armed
    await Promise.all([gpio.pulse(PIN, 2_000), vi.advanceTimersByTimeAsync(2_000)]);
    expect(motions).toEqual([T0, T0 + 10_000]);
  });

  it('inverts an active-low sensor: the line falling is motion', async () => {
    const { gpio, pir, motions } = setup(true);
    await pir.start();
    gpio.set(PIN, 1); // idle high: no edge, no motion
    gpio.set(PIN, 0);
    expect(motions).toEqual([T0]);
  });
});

/**
 * The trigger storm: 100 presses in 2 s with `debounceMs: 0`, each with its contact bounce, on an
 * agent running in this process with a simulated GPIO whose lines the benchmark drives directly
 * (the control socket's `sim ring` is one 150 ms press at a time). Counts the events a subscriber
 * gets and the most ffmpeg processes alive at once while the storm's clip and snapshots are made.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../agent/config.js';
import { silentLogger } from '../../agent/log.js';
import { Agent } from '../../agent/main.js';
import { topicsFor } from '../../agent/mqtt/index.js';
import { SimulatedGpio } from '../../hardware/index.js';
import { MqttProbe } from './harness/mqtt.js';
import { sleep } from './harness/ports.js';
import { descendantsNamed } from './harness/proc-stats.js';
import { row, withGoal, type BenchContext, type BenchResult } from './result.js';

export interface StormOptions {
  brokerUrl: string;
}

const PRESSES = 100;
const SPACING_MS = 20;
/** Active low (0 = closed): three bounce edges on closing, three on opening 9 ms later. */
const PRESS_EDGES: [0 | 1, number][] = [[0, 0], [1, 1], [0, 2], [1, 9], [0, 10], [1, 11]];

export async function benchTriggerStorm(opts: StormOptions, ctx: BenchContext): Promise<BenchResult> {
  const dir = mkdtempSync(join(ctx.workDir, 'storm-'));
  const config = parseConfig(
    {
      device: { id: 'benchstorm' },
      runtime: { dir: join(dir, 'run') },
      storage: { dir: join(dir, 'data') },
      camera: { synthetic: { width: 640, height: 480, fps: 15 } },
      record: { preRollSeconds: 2, postRollSeconds: 3 },
      mqtt: { url: opts.brokerUrl },
      web: { enabled: false },
      gpio: { button: { debounceMs: 0 } },
    },
    'storm',
    {},
  );
  const gpio = new SimulatedGpio();
  const agent = new Agent(config, { log: silentLogger, env: {}, gpio });
  let clips = 0;
  let failed = 0;
  agent.on('clip-ready', () => clips++);
  agent.on('clip-failed', () => failed++);
  let maxFfmpeg = 0;
  let events = 0;
  const sampler = setInterval(() => (maxFfmpeg = Math.max(maxFfmpeg, descendantsNamed(process.pid, 'ffmpeg'))), 10);
  let probe: MqttProbe | undefined;
  try {
    await agent.start();
    probe = await MqttProbe.connect(opts.brokerUrl, [topicsFor(config.mqtt.prefix, config.device.id).event]);
    await sleep(4_000); // a pre-roll in the ring
    ctx.progress(`trigger storm: ${PRESSES} presses in ${(PRESSES * SPACING_MS) / 1000} s at debounceMs 0`);
    const pin = config.gpio.button!.pin;
    for (let i = 0; i < PRESSES; i++) {
      // Stamped when sent, as a kernel stamps an edge when it happens (a late timer makes a later press, not an old one).
      const t = Date.now();
      for (const [raw, dt] of PRESS_EDGES) gpio.set(pin, raw, t + dt);
      await sleep(SPACING_MS);
    }
    const deadline = Date.now() + 60_000;
    while (clips + failed === 0 && Date.now() < deadline) await sleep(100);
    await sleep(1_000);
    events = probe.messages.length;
  } finally {
    // Also when the run failed: a client left connected keeps reconnecting and the bench never exits.
    await probe?.close();
    clearInterval(sampler);
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const bench = `Trigger storm: ${PRESSES} bounced presses in ${(PRESSES * SPACING_MS) / 1000} s, debounceMs 0 (${clips} clip${clips === 1 ? '' : 's'} made, ${failed} failed)`;
  return {
    name: 'trigger-storm',
    rows: [
      withGoal(row(bench, 'events at the subscriber', events, 'events', { name: 'presses', value: PRESSES }), `${PRESSES} (one per press)`, (r) => r.value === PRESSES),
      withGoal(row(bench, 'most ffmpeg processes at once', maxFfmpeg, 'processes'), '≤ 3 (camera + one snapshot + one join)', (r) => r.value <= 3),
    ],
    notes: [
      'Trigger storm: the agent runs inside the benchmark process with a simulated GPIO driven edge by edge (kernel-style timestamps); ffmpeg processes are counted from /proc every 10 ms until the clip is ready.',
    ],
    raw: { events, maxFfmpeg, clips, failed },
  };
}

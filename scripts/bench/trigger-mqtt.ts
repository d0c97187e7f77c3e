/**
 * Ring → MQTT event at a subscriber: a simulated button press (through the control socket, as
 * `doorbell sim ring` does) to the `P/D/event` message arriving at another client of the same broker,
 * at the default debounce and at 0.
 * Baseline: a plain QoS 1 publish → receive between two clients of that broker.
 */
import { join } from 'node:path';
import { sendControl } from '../../agent/control/index.js';
import { topicsFor } from '../../agent/mqtt/index.js';
import { agentFolders, writeBenchConfig } from './harness/agent-config.js';
import { AgentProcess } from './harness/agent-process.js';
import { json, MqttProbe } from './harness/mqtt.js';
import { sleep } from './harness/ports.js';
import { percentile, round } from './harness/stats.js';
import { row, withGoal, type BenchContext, type BenchResult, type BenchRow } from './result.js';

export interface TriggerOptions {
  presses: number;
  brokerUrl: string;
}

const PRESS_SPACING_MS = 300;
/** The default, and the setting that made one press ring seven times before the leading edge. */
const DEBOUNCES_MS = [30, 0];

const now = (): number => performance.timeOrigin + performance.now();

async function brokerRoundTrips(brokerUrl: string, count: number): Promise<number[]> {
  const topic = `bench/roundtrip/${process.pid}`;
  const sub = await MqttProbe.connect(brokerUrl, [topic]);
  const pub = await MqttProbe.connect(brokerUrl);
  const samples: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const payload = JSON.stringify({ v: 1, type: 'ring', at: new Date().toISOString(), source: 'button', clipId: `x${i}`.padEnd(26, '0') });
      const sent = now();
      const got = sub.waitFor((m) => m.payload.toString() === payload, 10_000, `round trip ${i}`);
      await pub.client.publishAsync(topic, payload, { qos: 1 });
      samples.push((await got).receivedAt - sent);
      await sleep(PRESS_SPACING_MS / 10);
    }
  } finally {
    await sub.close();
    await pub.close();
  }
  return samples;
}

async function pressesAt(debounceMs: number, opts: TriggerOptions, ctx: BenchContext): Promise<number[]> {
  const folders = agentFolders(ctx.workDir, `trigger-${debounceMs}`);
  writeBenchConfig(folders, { brokerUrl: opts.brokerUrl, gpio: { button: { debounceMs } } });
  const agent = new AgentProcess(folders.configFile);
  const topics = topicsFor('doorbell', 'benchdoor');
  const samples: number[] = [];
  let probe: MqttProbe | undefined;
  try {
    await agent.start();
    probe = await MqttProbe.connect(opts.brokerUrl, [topics.event]);
    ctx.progress(`trigger → MQTT: ${opts.presses} presses at debounceMs ${debounceMs}`);
    for (let i = 0; i < opts.presses; i++) {
      probe.messages.length = 0; // each press waited for its own event, so nothing older can still arrive
      await sendControl(join(folders.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
      const m = await probe.waitFor((x) => x.topic === topics.event, 10_000, `event ${i}`);
      samples.push(m.receivedAt - Date.parse(String(json(m).at)));
      await sleep(PRESS_SPACING_MS);
    }
  } finally {
    // Also when the run failed: a client left connected keeps reconnecting and the bench never exits.
    await probe?.close();
    await agent.stop();
    folders.dispose();
  }
  return samples;
}

export async function benchTriggerToMqtt(opts: TriggerOptions, ctx: BenchContext): Promise<BenchResult> {
  const samples: Record<number, number[]> = {};
  for (const debounceMs of DEBOUNCES_MS) samples[debounceMs] = await pressesAt(debounceMs, opts, ctx);
  ctx.progress(`trigger → MQTT: ${opts.presses} broker round trips (baseline)`);
  const baseline = await brokerRoundTrips(opts.brokerUrl, opts.presses);
  const base = 'plain QoS 1 publish → receive';
  const goal = (r: BenchRow): boolean => r.value <= 15;
  return {
    name: 'trigger-mqtt',
    rows: DEBOUNCES_MS.flatMap((debounceMs) => {
      const bench = `Ring → MQTT event at a subscriber, debounceMs ${debounceMs} (${opts.presses} presses, Mosquitto on loopback)`;
      return [
        row(bench, 'p50', round(percentile(samples[debounceMs]!, 50), 2), 'ms', { name: base, value: round(percentile(baseline, 50), 2) }),
        withGoal(row(bench, 'p99', round(percentile(samples[debounceMs]!, 99), 2), 'ms', { name: base, value: round(percentile(baseline, 99), 2) }), '≤ 15 ms', goal),
      ];
    }),
    notes: [
      `Ring → MQTT: from the simulated button's first edge (the time stamped in the event; the simulated press bounces like a real contact) to the event's arrival at another client, at debounceMs ${DEBOUNCES_MS.join(' and ')}. The press counts on its first edge (leading edge), so the debounce adds nothing; what remains is the event's durable write to the SQLite outbox (synchronous=FULL) and the publish.`,
    ],
    raw: { samples, baseline },
  };
}

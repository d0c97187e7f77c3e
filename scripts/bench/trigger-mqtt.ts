/**
 * Trigger → MQTT event at a subscriber: a simulated button edge (through the control socket, as
 * `doorbell sim ring` does) to the `P/D/event` message arriving at another client of the same broker.
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
import { row, type BenchContext, type BenchResult } from './result.js';

export interface TriggerOptions {
  presses: number;
  brokerUrl: string;
}

const PRESS_SPACING_MS = 300;
const DEBOUNCE_MS = 30;

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

export async function benchTriggerToMqtt(opts: TriggerOptions, ctx: BenchContext): Promise<BenchResult> {
  const folders = agentFolders(ctx.workDir, 'trigger');
  writeBenchConfig(folders, { brokerUrl: opts.brokerUrl, gpio: { button: { debounceMs: DEBOUNCE_MS } } });
  const agent = new AgentProcess(folders.configFile);
  const topics = topicsFor('doorbell', 'benchdoor');
  const samples: number[] = [];
  let baseline: number[] = [];
  try {
    await agent.start();
    const probe = await MqttProbe.connect(opts.brokerUrl, [topics.event]);
    ctx.progress(`trigger → MQTT: ${opts.presses} presses`);
    for (let i = 0; i < opts.presses; i++) {
      probe.messages.length = 0; // each press waited for its own event, so nothing older can still arrive
      await sendControl(join(folders.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
      const m = await probe.waitFor((x) => x.topic === topics.event, 10_000, `event ${i}`);
      samples.push(m.receivedAt - Date.parse(String(json(m).at)));
      await sleep(PRESS_SPACING_MS);
    }
    await probe.close();
    ctx.progress(`trigger → MQTT: ${opts.presses} broker round trips (baseline)`);
    baseline = await brokerRoundTrips(opts.brokerUrl, opts.presses);
  } finally {
    await agent.stop();
    folders.dispose();
  }
  const bench = `Trigger → MQTT event at a subscriber (${opts.presses} presses, Mosquitto on loopback)`;
  const base = 'plain QoS 1 publish → receive';
  return {
    name: 'trigger-mqtt',
    rows: [
      row(bench, 'p50', round(percentile(samples, 50)), 'ms', { name: base, value: round(percentile(baseline, 50), 2) }),
      row(bench, 'p99', round(percentile(samples, 99)), 'ms', { name: base, value: round(percentile(baseline, 99), 2) }),
    ],
    notes: [
      `Trigger → MQTT: measured from the simulated button's first edge (the time stamped in the event) to the event's arrival at another client; it includes the ${DEBOUNCE_MS} ms debounce (gpio.button.debounceMs) and the event's durable write to the SQLite outbox (synchronous=FULL) before it is published.`,
    ],
    raw: { samples, baseline },
  };
}

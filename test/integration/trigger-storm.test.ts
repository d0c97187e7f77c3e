/**
 * Bounded work under a burst of rings: a real agent (synthetic camera, real ffmpeg, embedded broker)
 * whose simulated button is pressed 100 times in 2 s with `debounceMs: 0`, each press with its
 * contact bounce. Every press is one event, and the ffmpeg jobs stay few however fast rings come.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicsFor } from '../../agent/mqtt/index.js';
import { SimulatedGpio } from '../../hardware/index.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { homeAssistantLogin } from '../helpers/owner.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** The ffmpeg processes this test process has as children right now. */
function ffmpegChildren(): number {
  let count = 0;
  for (const task of readdirSync(`/proc/${process.pid}/task`)) {
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      continue; // the thread ended between the listing and the read
    }
    for (const pid of children) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'ffmpeg') count++;
      } catch {
        // the child ended meanwhile
      }
    }
  }
  return count;
}

describe('a storm of rings', () => {
  const gpio = new SimulatedGpio();
  let agent: TestAgent;
  let events: Recorder;

  beforeAll(async () => {
    agent = await startTestAgent(
      { gpio: { button: { debounceMs: 0 } }, record: { preRollSeconds: 1, postRollSeconds: 1 } },
      { gpio },
    );
    // Home Assistant's view: the plaintext events.
    events = await Recorder.connect(agent.brokerUrl, [topicsFor(agent.config.mqtt.prefix, agent.config.device.id).event], homeAssistantLogin(agent));
    for (let i = 0; !((await agent.control('status')) as { camera: { ok: boolean } }).camera.ok; i++) {
      if (i > 150) throw new Error('the camera gave no video within 30 s');
      await sleep(200);
    }
  }, 60_000);

  afterAll(async () => {
    await events?.client.endAsync();
    await agent?.dispose();
  });

  it('gives 100 events for 100 bounced presses in 2 s at debounceMs 0, with at most one snapshot and one join at a time', async () => {
    const pin = agent.config.gpio.button!.pin;
    const triggers: number[] = [];
    agent.agent.on('trigger', ({ trigger }) => triggers.push(trigger.at));
    let maxChildren = 0;
    const sampler = setInterval(() => (maxChildren = Math.max(maxChildren, ffmpegChildren())), 20);
    try {
      const stamps: number[] = [];
      for (let ring = 0; ring < 100; ring++) {
        // Stamped when sent, as a kernel stamps an edge: a late timer on a busy machine makes a later press.
        const t = Date.now();
        stamps.push(t);
        // Active low: 0 = contact closed. Three bounce edges on closing, three on opening 9 ms later.
        for (const [raw, dt] of [[0, 0], [1, 1], [0, 2], [1, 9], [0, 10], [1, 11]] as const) gpio.set(pin, raw, t + dt);
        await sleep(20);
      }
      await waitFor('100 events at the subscriber', () => events.messages.length >= 100, 30_000);
      await sleep(500);
      expect(events.messages).toHaveLength(100);
      const sent = events.messages.map((m) => Date.parse((JSON.parse(m.payload.toString()) as { at: string }).at));
      expect(sent.sort((a, b) => a - b)).toEqual(stamps);
      expect(triggers).toHaveLength(100);
      await waitFor('the clip', () => agent.clips.length > 0, 30_000);
    } finally {
      clearInterval(sampler);
    }
    // The camera's ffmpeg (the sampler saw it), one snapshot job and one join.
    expect(maxChildren).toBeGreaterThanOrEqual(1);
    expect(maxChildren).toBeLessThanOrEqual(3);
  }, 90_000);
});

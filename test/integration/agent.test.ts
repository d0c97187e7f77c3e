import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestAgent, until } from '../helpers/agent.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { keyLogin, Recorder } from '../helpers/mqtt.js';
import { deviceLogin, TestOwner } from '../helpers/owner.js';
import { freePort } from '../helpers/ports.js';

const CLI = new URL('../../dist/agent/cli.js', import.meta.url).pathname;

describe('ring → clip → MQTT event, on the embedded broker', () => {
  it('seals the event with its clip id and the snapshot to the owner; the public copies carry neither', async () => {
    const t = await startTestAgent();
    const owner = await TestOwner.create(t);
    const sub = await Recorder.connect(t.brokerUrl, ['doorbell/testdoor/#'], deviceLogin(t));
    try {
      await sub.waitFor((m) => m.topic === 'doorbell/testdoor/state');
      // A subscriber arriving later (an owner: the embedded broker shows the state to owners) gets it retained.
      const late = await Recorder.connect(t.brokerUrl, ['doorbell/testdoor/state'], await keyLogin(owner.key));
      const state = await late.waitFor(() => true);
      await late.close();
      expect(state.retain).toBe(true);
      // Device health only: nothing about requests or the audit log.
      expect(late.json(state)).toMatchObject({ v: 2, online: true, camera: { source: 'synthetic' } });
      expect(late.json(state)).not.toHaveProperty('requests');
      expect(late.json(state)).not.toHaveProperty('audit');
      const pressedAt = Date.now();
      const clip = await t.ring();
      // Home Assistant's plaintext copy (on by default): ring and time, no clip id.
      const event = sub.json(await sub.waitFor((m) => m.topic === 'doorbell/testdoor/event'));
      expect(event).toEqual({ v: 2, type: 'ring', source: 'button', at: expect.any(String) });
      expect(Math.abs(Date.parse(String(event.at)) - pressedAt)).toBeLessThan(2000);
      const sealed = await owner.message((m) => m.kind === 'event', 'the sealed event');
      expect(sealed.body).toMatchObject({ type: 'ring', source: 'button', clipId: clip.id });
      const snapshot = await owner.message((m) => m.kind === 'snapshot', 'the sealed snapshot');
      expect(Buffer.from(String(snapshot.body.jpeg), 'base64').subarray(0, 2).toString('hex')).toBe('ffd8');
      // The state follows the store: the new clip is counted. No plaintext snapshot unless the owner asks for one.
      await sub.waitFor((m) => m.topic === 'doorbell/testdoor/state' && (sub.json(m).storage as { clips: number }).clips === 1);
      expect(sub.messages.filter((m) => m.topic === 'doorbell/testdoor/snapshot')).toEqual([]);
    } finally {
      await sub.close();
      await owner.close();
      await t.dispose();
    }
  });
});

describe('events survive a broker outage and an agent restart (Mosquitto)', () => {
  const broker = new TestMosquitto();
  afterAll(() => broker.dispose());

  it('delivers a ring raised while the broker was down once both are back', async () => {
    await broker.start();
    const dir = mkdtempSync(join(tmpdir(), 'agent-outage-'));
    const owner = await Recorder.connect(broker.url, ['doorbell/testdoor/event'], { clientId: 'phone-1', clean: false });
    let t = await startTestAgent({ mqtt: { url: broker.url } }, { dir });
    try {
      await until(() => t.agent.listenerCount('trigger') >= 0 && owner.client.connected);
      await broker.stop();
      const clip = await t.ring();
      await t.stop();
      await broker.start();
      t = await startTestAgent({ mqtt: { url: broker.url } }, { dir });
      const event = await owner.waitFor((m) => Math.abs(Date.parse(String(owner.json(m).at)) - clip.triggeredAt) < 1000, 20_000, 'the event raised while offline');
      expect(owner.json(event)).toMatchObject({ v: 2, type: 'ring' });
    } finally {
      await owner.close();
      await t.dispose();
    }
  });
});

describe('Last Will', () => {
  it('marks the doorbell offline when the agent dies without a goodbye', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-will-'));
    const port = await freePort();
    const broker = new TestMosquitto();
    await broker.start();
    const config = join(dir, 'agent.yaml');
    writeFileSync(
      config,
      [
        'device: { id: willdoor }',
        `runtime: { dir: ${join(dir, 'run')} }`,
        `storage: { dir: ${join(dir, 'data')} }`,
        'camera: { synthetic: { width: 320, height: 240, fps: 10 } }',
        `mqtt: { url: "${broker.url}", keepaliveSeconds: 5 }`,
        `web: { enabled: false, listen: "127.0.0.1:${port}" }`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, [CLI, 'run', '--config', config], { stdio: 'ignore' });
    const sub = await Recorder.connect(broker.url, ['doorbell/willdoor/state']);
    try {
      await sub.waitFor((m) => sub.json(m).online === true, 30_000, 'online state');
      child.kill('SIGKILL');
      const offline = await sub.waitFor((m) => m.payload.length > 0 && sub.json(m).online === false, 20_000, 'the Last Will');
      expect(sub.json(offline)).toEqual({ v: 2, online: false });
    } finally {
      child.kill('SIGKILL');
      await sub.close();
      await broker.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The README's Mosquitto ACL, taken from the README itself: the device can publish a receipt to the
 * requester's topic (protocol v1's documented ACL refused it), and a requester reads nothing else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder } from '../helpers/mqtt.js';
import { freePort } from '../helpers/ports.js';
import { waitForPort } from '../helpers/mosquitto.js';
import { settle } from '../helpers/requests.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const acl = /A Mosquitto\s+ACL example[^\n]*\n(?:[^\n]*\n)*?```\n([\s\S]*?)```/.exec(readme)?.[1];
const KEY_ID = '3f9a1c0b5e7d2468';

describe('the README’s Mosquitto ACL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'acl-'));
  let broker: ChildProcess | undefined;
  let url = '';
  const clients: Recorder[] = [];

  beforeAll(async () => {
    expect(acl, 'the README has an ACL example').toBeTruthy();
    chmodSync(dir, 0o777);
    writeFileSync(join(dir, 'acl'), acl!);
    const port = await freePort();
    writeFileSync(join(dir, 'mosquitto.conf'), [`listener ${port} 127.0.0.1`, 'allow_anonymous true', `acl_file ${join(dir, 'acl')}`, 'log_dest none', ''].join('\n'));
    broker = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
    await waitForPort(port);
    url = `mqtt://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    if (broker && broker.exitCode === null) {
      await new Promise<void>((resolve) => {
        broker!.once('exit', () => resolve());
        broker!.kill('SIGTERM');
      });
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = async (username: string, filters: string[]): Promise<Recorder> => {
    const r = await Recorder.connect(url, filters, { username });
    clients.push(r);
    return r;
  };

  it('lets the device publish a receipt that its requester receives, and nobody else', async () => {
    const requester = await connect('springfield-pd', [`requesters/${KEY_ID}/#`, 'doorbell/#', 'requesters/#']);
    const owner = await connect('owner-frontdoor', ['doorbell/frontdoor/#']);
    const device = await connect('frontdoor', ['doorbell/frontdoor/request', 'doorbell/area/+/request']);
    await device.client.publishAsync(`requesters/${KEY_ID}/receipts`, '{"v":2}', { qos: 1 });
    await requester.waitFor((m) => m.topic === `requesters/${KEY_ID}/receipts`, 10_000, 'the receipt');

    // The requester reads nothing of the device's, nor another requester's receipts.
    await device.client.publishAsync('doorbell/frontdoor/state', '{"online":true}', { qos: 1 });
    await device.client.publishAsync('requesters/0000000000000000/receipts', '{"v":2}', { qos: 1 });
    await owner.waitFor((m) => m.topic === 'doorbell/frontdoor/state', 10_000, 'the state at the owner');
    // A request the requester publishes reaches the device.
    await requester.client.publishAsync('doorbell/frontdoor/request', '{"v":2}', { qos: 1 });
    await device.waitFor((m) => m.topic === 'doorbell/frontdoor/request', 10_000, 'the request at the device');
    await settle(500);
    expect(requester.messages.map((m) => m.topic)).toEqual([`requesters/${KEY_ID}/receipts`]);
  });
});

/**
 * The README's Mosquitto example, taken from the README itself (its configuration and its ACL, with
 * a password per named user) and run in a real Mosquitto: every role does what docs/protocol.md
 * "Broker access" allows it, as far as Mosquitto can express it, and reads nothing else. A second
 * doorbell, configured like the README's, shares the broker.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectAsync, type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder } from '../helpers/mqtt.js';
import { freePort } from '../helpers/ports.js';
import { waitForPort } from '../helpers/mosquitto.js';
import { settle } from '../helpers/requests.js';
import { startTestAgent, until } from '../helpers/agent.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';
import { startEvidenceReceiver } from '../../scripts/evidence-receiver.js';

const CLI = new URL('../../dist/agent/cli.js', import.meta.url).pathname;

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
/** The README's code block whose first line is `first`. */
const block = (first: string): string | undefined => readme.split('```\n').find((b) => b.startsWith(`${first}\n`));
const acl = block('# /etc/mosquitto/doorbell.acl');
const conf = block('# /etc/mosquitto/conf.d/doorbell.conf');
const KEY_ID = '3f9a1c0b5e7d2468';
const USERS = ['frontdoor', 'owner-frontdoor', 'springfield-pd', 'board', 'homeassistant', 'backdoor'];
const F = 'doorbell/frontdoor';

describe('the README’s Mosquitto example', () => {
  const dir = mkdtempSync(join(tmpdir(), 'acl-'));
  let broker: ChildProcess | undefined;
  let url = '';
  const clients: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    expect(acl, 'the README has the ACL').toBeTruthy();
    expect(conf, 'the README has the configuration').toBeTruthy();
    chmodSync(dir, 0o777);
    // A second doorbell on the same broker, its device user written as the README writes frontdoor's.
    const device = /^user frontdoor\n(?:topic .*\n)+/m.exec(acl!)![0];
    writeFileSync(join(dir, 'acl'), `${acl!}${device.replaceAll('frontdoor', 'backdoor')}`);
    const passwd = join(dir, 'passwd');
    USERS.forEach((user, i) => execFileSync('mosquitto_passwd', ['-b', ...(i === 0 ? ['-c'] : []), passwd, user, `pw-${user}`]));
    chmodSync(passwd, 0o644);
    const port = await freePort();
    const config = conf!
      .replace(/^listener 1883$/m, `listener ${port} 127.0.0.1`)
      .replace('/etc/mosquitto/doorbell.passwd', passwd)
      .replace('/etc/mosquitto/doorbell.acl', join(dir, 'acl'));
    expect(config).toContain(`listener ${port} 127.0.0.1`);
    expect(config).toContain(`password_file ${passwd}`);
    expect(config).toContain(`acl_file ${join(dir, 'acl')}`);
    writeFileSync(join(dir, 'mosquitto.conf'), `${config}log_dest none\n`);
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
    const r = await Recorder.connect(url, filters, { username, password: `pw-${username}` });
    clients.push(r);
    return r;
  };

  /** An anonymous client that tried to subscribe to `filters` (Mosquitto may refuse them in the SUBACK). */
  const anonymous = async (filters: string[]): Promise<Recorder> => {
    const client: MqttClient = await connectAsync(url, { reconnectPeriod: 0 });
    const r = new Recorder(client);
    clients.push(r);
    await client.subscribeAsync(filters, { qos: 1 }).catch(() => undefined);
    return r;
  };

  it('lets anonymous clients offer a pairing and send requests, and read nothing', async () => {
    const device = await connect('frontdoor', [`${F}/#`, 'doorbell/area/+/request']);
    const anon = await anonymous(['#', `${F}/#`, 'doorbell/+/owner/out', `${F}/state`, `${F}/event`, `${F}/pair/+/answer`, 'requesters/#', '$SYS/#']);
    await anon.client.publishAsync(`${F}/pair`, '{"hello":1}', { qos: 1 });
    await anon.client.publishAsync(`${F}/request`, '{"request":1}', { qos: 1 });
    await anon.client.publishAsync('doorbell/area/dp3wj/request', '{"request":2}', { qos: 1 });
    await anon.client.publishAsync(`${F}/owner/in`, 'forged decision', { qos: 1 });
    await anon.client.publishAsync(`${F}/state`, 'forged state', { qos: 1 });
    for (const [topic, what] of [[`${F}/pair`, 'the pairing offer'], [`${F}/request`, 'the request'], ['doorbell/area/dp3wj/request', 'the area request']] as const) {
      await device.waitFor((m) => m.topic === topic, 10_000, what);
    }
    for (const topic of [`${F}/state`, `${F}/event`, `${F}/owner/out`, `${F}/pair/${KEY_ID}/answer`, `requesters/${KEY_ID}/receipts`]) {
      await device.client.publishAsync(topic, 'device', { qos: 1 });
    }
    await device.waitFor((m) => m.topic === `requesters/${KEY_ID}/receipts` || m.payload.toString() === 'device', 10_000, 'the device’s own messages');
    await settle(500);
    expect(anon.messages).toEqual([]);
    expect(device.messages.map((m) => m.payload.toString())).not.toContain('forged decision');
    expect(device.messages.map((m) => m.payload.toString())).not.toContain('forged state');
  });

  it('gives the owner’s phone its doorbell’s sealed owner topics and pairing replies, not another doorbell’s', async () => {
    const device = await connect('frontdoor', [`${F}/owner/in`, `${F}/owner/audit/ask`, `${F}/pair`]);
    const backdoor = await connect('backdoor', []);
    const owner = await connect('owner-frontdoor', [`${F}/state`, `${F}/owner/out`, `${F}/owner/snapshot`, `${F}/owner/audit/proof`, `${F}/transparency`, `${F}/pair/+/#`]);
    const greedy = await connect('owner-frontdoor', []);
    const forbidden = ['doorbell/backdoor/owner/out', `${F}/event`, `${F}/owner/in`, `requesters/${KEY_ID}/receipts`];
    await greedy.client.subscribeAsync(['doorbell/+/owner/out', ...forbidden, '#'], { qos: 1 }).catch(() => undefined);
    const mine = [`${F}/state`, `${F}/owner/out`, `${F}/owner/snapshot`, `${F}/owner/audit/proof`, `${F}/transparency`, `${F}/pair/${KEY_ID}/answer`];
    for (const topic of mine) await device.client.publishAsync(topic, 'for the owner', { qos: 1 });
    await backdoor.client.publishAsync('doorbell/backdoor/owner/out', 'the other doorbell', { qos: 1 });
    await device.client.publishAsync(`${F}/event`, 'plaintext for Home Assistant', { qos: 1 });
    await device.client.publishAsync(`requesters/${KEY_ID}/receipts`, 'a receipt', { qos: 1 });
    await owner.waitFor(() => owner.messages.length === mine.length, 10_000, 'the owner’s topics');
    expect(owner.messages.map((m) => m.topic).sort()).toEqual([...mine].sort());
    for (const topic of [`${F}/owner/in`, `${F}/owner/audit/ask`, `${F}/pair`]) await owner.client.publishAsync(topic, 'from the owner', { qos: 1 });
    await device.waitFor(() => device.messages.length === 3, 10_000, 'what the owner sent');
    await settle(500);
    // Mosquitto checks reads at each delivery: wildcards bring only what the owner may read anyway.
    expect(greedy.messages.filter((m) => forbidden.includes(m.topic))).toEqual([]);
    expect(device.messages.map((m) => m.topic).sort()).toEqual([`${F}/owner/audit/ask`, `${F}/owner/in`, `${F}/pair`]);
  });

  it('lets the device publish a receipt that its requester receives, and nobody else; the board only relays', async () => {
    const requester = await connect('springfield-pd', [`requesters/${KEY_ID}/#`, 'doorbell/#', 'requesters/#']);
    const board = await connect('board', ['#']);
    const owner = await connect('owner-frontdoor', [`${F}/state`]);
    const device = await connect('frontdoor', [`${F}/request`, 'doorbell/area/+/request']);
    await device.client.publishAsync(`requesters/${KEY_ID}/receipts`, '{"v":2}', { qos: 1 });
    await requester.waitFor((m) => m.topic === `requesters/${KEY_ID}/receipts`, 10_000, 'the receipt');

    // The requester reads nothing of the device's, nor another requester's receipts.
    await device.client.publishAsync(`${F}/state`, '{"online":true}', { qos: 1 });
    await device.client.publishAsync('requesters/0000000000000000/receipts', '{"v":2}', { qos: 1 });
    await owner.waitFor((m) => m.topic === `${F}/state`, 10_000, 'the state at the owner');
    // What the requester and the board publish reaches the device.
    await requester.client.publishAsync(`${F}/request`, '{"v":2,"from":"requester"}', { qos: 1 });
    await board.client.publishAsync('doorbell/area/dp3wj/request', '{"v":2,"from":"board"}', { qos: 1 });
    await device.waitFor((m) => m.topic === `${F}/request`, 10_000, 'the request at the device');
    await device.waitFor((m) => m.topic === 'doorbell/area/dp3wj/request', 10_000, 'the relayed request at the device');
    await settle(500);
    expect(requester.messages.map((m) => m.topic)).toEqual([`requesters/${KEY_ID}/receipts`]);
    expect(board.messages).toEqual([]);
  });

  it('lets Home Assistant read the plaintext topics, the state and discovery, and not the owner topics', async () => {
    const ha = await connect('homeassistant', [`${F}/state`, `${F}/event`, `${F}/snapshot`, 'homeassistant/#']);
    const greedy = await connect('homeassistant', []);
    const forbidden = [`${F}/owner/out`, `${F}/owner/snapshot`];
    await greedy.client.subscribeAsync([...forbidden, `${F}/#`, '#'], { qos: 1 }).catch(() => undefined);
    const device = await connect('frontdoor', []);
    const discovery = 'homeassistant/event/doorbell_frontdoor/ring/config';
    for (const topic of [`${F}/state`, `${F}/event`, `${F}/snapshot`, discovery, `${F}/owner/out`, `${F}/owner/snapshot`]) {
      await device.client.publishAsync(topic, 'x', { qos: 1 });
    }
    await ha.client.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await ha.waitFor(() => ha.messages.length === 5, 10_000, 'the plaintext topics, discovery and its own status');
    await settle(500);
    expect(ha.messages.map((m) => m.topic).sort()).toEqual([discovery, 'homeassistant/status', `${F}/event`, `${F}/snapshot`, `${F}/state`].sort());
    expect(greedy.messages.filter((m) => forbidden.includes(m.topic))).toEqual([]);
  });

  it('lets the owner approve from the terminal with the owner user’s password: the bundle arrives', async () => {
    const t = await startTestAgent({
      device: { id: 'frontdoor' },
      mqtt: { url, username: 'frontdoor', password: 'pw-frontdoor' },
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true },
    });
    const receiver = await startEvidenceReceiver({ dir: join(dir, 'received') });
    clients.push({ close: () => receiver.stop() }, { close: () => t.dispose() });
    const config = join(dir, 'owner-cli.yaml');
    const { device, runtime, storage } = t.config;
    writeFileSync(config, stringify({ device: { id: device.id }, runtime: { dir: runtime.dir }, storage: { dir: storage.dir }, mqtt: { url, username: 'owner-frontdoor', password: 'pw-owner-frontdoor' } }));
    const doorbell = async (...args: string[]): Promise<string> => (await promisify(execFile)(process.execPath, [CLI, ...args, '--config', config])).stdout;
    const keyFile = join(dir, 'owner.key');
    const keygen = await doorbell('owner', 'keygen', '--out', keyFile);
    const signing = /signing key\s+(\S+)/.exec(keygen)![1]!;
    const sealing = /sealing key\s+(age1\S+)/.exec(keygen)![1]!;
    await doorbell('owner', 'add', '--name', 'Alice', '--key', signing, '--seal', sealing);
    await t.ring();
    const request = makeRequest({ uploadUrl: receiver.url('/put/mosquitto-1') });
    const requester = await connect('springfield-pd', []);
    await requester.client.publishAsync(`${F}/request`, signedRequest(request), { qos: 1 });
    await until(() => t.audit().some((e) => e.type === 'notice' && e.requestId === request.id), 15_000, 'the notice');
    // The key login the embedded broker takes would be refused here: the configured user logs in instead.
    expect(await doorbell('owner', 'approve', String(request.id), '--key', keyFile, '--clips', t.clips[0]!.id)).toContain('status       uploaded');
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.verification?.ok).toBe(true);
  }, 120_000);

  it('refuses a named user with a wrong password', async () => {
    await expect(connectAsync(url, { username: 'frontdoor', password: 'guess', reconnectPeriod: 0 })).rejects.toThrow();
  });
});

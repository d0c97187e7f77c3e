/**
 * `npm run demo:request` (with `npm start` running): acts as a requester asking the demo doorbell for
 * the last minutes of footage, signed with its requester key (`--key`, made on first use), directly
 * or through a request board (`--board URL`), with a local receiver that saves and checks whatever arrives. Nothing
 * arrives unless the owner approves (`doorbell owner approve ID --key FILE`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { iso } from '../agent/clock.js';
import { configPath, loadConfig, parseConfig } from '../agent/config.js';
import { connectBroker } from '../agent/cli/broker.js';
import { topicsFor } from '../agent/mqtt/index.js';
import { generateOwnerKey, readKeyFile, writeKeyFile } from '../agent/owner/index.js';
import { REQUEST_DOMAIN, signEnvelope } from '../agent/requests/index.js';
import { describeReceived, startEvidenceReceiver } from './evidence-receiver.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      minutes: { type: 'string', default: '15' },
      port: { type: 'string', default: '8090' },
      dir: { type: 'string', default: './.doorbell-received' },
      key: { type: 'string', default: './requester.key' },
      board: { type: 'string' },
    },
  });
  const file = configPath(values.config);
  const config = file ? loadConfig(file) : parseConfig({}, 'demo defaults');
  const minutes = Number(values.minutes);
  const dir = resolve(values.dir);
  const receiver = await startEvidenceReceiver({ port: Number(values.port), dir, onRequest: (r) => console.log(`\nreceived: ${describeReceived(r)}`) });

  // The requester's key: made once (as `doorbell requester keygen --out requester.key` would), then reused.
  const keyFile = resolve(values.key);
  if (!existsSync(keyFile)) writeKeyFile(keyFile, generateOwnerKey().privateKey);
  const key = readKeyFile(keyFile);
  const id = `${key.keyId}.rfa-demo-${randomBytes(3).toString('hex')}`;
  const now = Date.now();
  const request = {
    v: 2,
    id,
    requester: { name: 'Demo Police Department', kind: 'police', contact: 'records@demo-pd.example', caseNumber: 'DEMO-1' },
    reason: 'Demo: a parcel went missing from the porch',
    window: { from: iso(now - minutes * 60_000), to: iso(now) },
    upload: { url: receiver.url(`/put/${id}`), expiresAt: iso(now + 24 * 3600_000) },
    replyTo: `requesters/${key.keyId}/receipts`,
    // Direct requests name their device, so nobody can replay them to another.
    to: `${config.mqtt.prefix}/${config.device.id}`,
    expiresAt: iso(now + 3600_000),
  };
  const message = JSON.stringify({ v: 2, ...signEnvelope(REQUEST_DOMAIN, key.privateKey, key.publicKeyRaw, JSON.stringify(request)) });
  // Logged in with its key: on the embedded broker only that key may read its receipts.
  const client = await connectBroker(config, 'requester', key);
  await client.subscribeAsync(request.replyTo, { qos: 1 });
  client.on('message', (_topic, payload) => console.log(`receipt: ${payload.toString('utf8')}`));
  if (values.board) {
    // Through the public request board: logged for anyone to see, then relayed to the device with its proof.
    const response = await fetch(new URL('requests', values.board.endsWith('/') ? values.board : `${values.board}/`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: message,
    });
    if (!response.ok) throw new Error(`the board refused the request: ${response.status} ${await response.text()}`);
    const answer = (await response.json()) as { index: number };
    console.log(`request ${id} posted on ${values.board} as entry ${answer.index} (see ${values.board}/requesters/${key.keyId})`);
  } else {
    await client.publishAsync(topicsFor(config.mqtt.prefix, config.device.id).request, message, { qos: 1 });
    console.log(`request ${id} sent directly to "${config.device.id}" for the last ${minutes} minutes.`);
  }
  console.log(`requester key ${keyFile}: key id ${key.keyId}`);
  console.log(`receiver listening on ${receiver.url('/')} (bundles saved in ${dir})`);
  console.log('As the owner, in another terminal:');
  console.log('  npm run doorbell -- owner keygen --out owner.key          # once');
  console.log('  npm run doorbell -- owner add --name Me --key PUBLIC_KEY   # once, with the key it printed');
  console.log(`  npm run doorbell -- owner approve ${id} --key owner.key    # or: owner deny ${id} --key owner.key`);
  console.log('A doorbell with no footage in the window, or an owner who denies, sends nothing at all. Ctrl-C to stop.');
  await new Promise<void>((done) => process.once('SIGINT', () => done()));
  await client.endAsync();
  await receiver.stop();
}

main().catch((err: Error) => {
  console.error(`demo-request: ${err.message}`);
  process.exitCode = 1;
});

/**
 * `doorbell owner approve|deny` and `ask` never wait forever on a broker that went away: a one-shot
 * owner session whose broker dies before it acknowledged a message says so at once, and a message
 * sent after that fails with the broker's address instead of waiting for a connection that will
 * never come back. Real Mosquitto, frozen (SIGSTOP) then killed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OwnerSession } from '../../agent/cli/owner-session.js';
import { silentLogger } from '../../agent/log.js';
import { DeviceKey } from '../../agent/owner/index.js';
import { b64url } from '../../agent/pairing/index.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { newOwnerKeyFile } from '../helpers/owner.js';

const dir = mkdtempSync(join(tmpdir(), 'owner-session-gone-'));
const broker = new TestMosquitto();
let session: OwnerSession | undefined;

afterAll(async () => {
  try {
    if (broker.pid) process.kill(broker.pid, 'SIGCONT'); // if the test stopped before killing it
  } catch {
    // already gone
  }
  await session?.close();
  await broker.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const ask = () => ({ v: 2 as const, kind: 'ask', at: new Date().toISOString(), nonce: b64url(randomBytes(16)) });

describe('a one-shot owner session', () => {
  it('fails at once, naming the broker, when the broker dies before it acknowledged', async () => {
    await broker.start();
    const device = new DeviceKey({ dir, log: silentLogger });
    await device.start();
    session = await OwnerSession.open({ url: broker.url, prefix: 'doorbell', deviceId: 'frontdoor', key: await newOwnerKeyFile(), device: device.publicKeys });
    await session.send(ask()); // a live broker acknowledges

    const pid = broker.pid!;
    process.kill(pid, 'SIGSTOP'); // frozen: the connection stays open, nothing is acknowledged
    const sending = session.send(ask());
    const outcome = sending.then(() => 'acknowledged', (err: Error) => err.message);
    await new Promise((r) => setTimeout(r, 500));
    process.kill(pid, 'SIGKILL');
    expect(await outcome).toBe(`the connection to the broker at ${broker.url} closed before it acknowledged the message`);
    await expect(session.send(ask())).rejects.toThrow(`not connected to the broker at ${broker.url}`);
  });
});

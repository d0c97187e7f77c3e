/**
 * A requester's receipt is its only proof that the evidence arrived: it must reach the requester
 * even when the broker is down at the moment the upload completes, and even when the agent is
 * restarted before the broker comes back. The owners' sealed copy likewise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../agent/config.js';
import { OwnerInbox } from '../../agent/envelope/index.js';
import { readDevicePublicKeys } from '../../agent/owner/index.js';
import { startTestAgent, until, type TestAgent } from '../helpers/agent.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/mqtt.js';
import { TestOwner } from '../helpers/owner.js';
import { makeRequest, REQUESTER, signedRequest } from '../helpers/protocol.js';
import { requestState } from '../helpers/requests.js';

const RECEIPTS = `requesters/${REQUESTER.keyId}/receipts`;

/** An upload URL that takes the whole bundle and answers 200 only when released. */
class HeldReceiver {
  readonly received: string[] = [];
  private release: () => void = () => undefined;
  private readonly released = new Promise<void>((resolve) => (this.release = resolve));
  private readonly server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      this.received.push(req.url ?? '');
      void this.released.then(() => res.writeHead(200).end());
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  answer(): void {
    this.release();
  }

  async stop(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

interface World {
  dir: string;
  config: ConfigInput;
  broker: TestMosquitto;
  agent: TestAgent | undefined;
  owner: TestOwner | undefined;
  requester: Recorder | undefined;
  /** The owners' topic, read by a persistent session: what a phone that stays subscribed gets. */
  ownerTopic: Recorder | undefined;
  receiver: HeldReceiver;
}

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) {
    await w.owner?.close().catch(() => undefined);
    await w.requester?.close().catch(() => undefined);
    await w.ownerTopic?.close().catch(() => undefined);
    await w.agent?.stop().catch(() => undefined);
    await w.receiver.stop();
    await w.broker.dispose();
    rmSync(w.dir, { recursive: true, force: true });
  }
});

async function startWorld(): Promise<World> {
  const broker = new TestMosquitto();
  const receiver = new HeldReceiver();
  const world: World = {
    dir: mkdtempSync(join(tmpdir(), 'receipt-')),
    config: {},
    broker,
    agent: undefined,
    owner: undefined,
    requester: undefined,
    ownerTopic: undefined,
    receiver,
  };
  worlds.push(world);
  await broker.start();
  await receiver.start();
  world.config = { mqtt: { url: broker.url }, requests: { allowInsecureUploads: true, allowPrivateDestinations: true } };
  world.agent = await startTestAgent(world.config, { dir: world.dir });
  world.owner = await TestOwner.create(world.agent);
  // Persistent sessions: the broker keeps their messages while they are away too.
  const persistent = (name: string): { clean: false; clientId: string } => ({ clean: false, clientId: `${name}-${process.pid}-${Date.now()}` });
  world.requester = await Recorder.connect(broker.url, [RECEIPTS], persistent('requester'));
  world.ownerTopic = await Recorder.connect(broker.url, ['doorbell/testdoor/owner/out'], persistent('phone'));
  return world;
}

/** Waits for the owners' sealed receipt of `id` among what the persistent owner session got. */
async function ownerReceipt(w: World, id: string): Promise<Record<string, unknown>> {
  const inbox = new OwnerInbox({ identities: [w.owner!.key.identity], device: readDevicePublicKeys(w.agent!.config.storage.dir)! });
  const opened = new Set<Buffer>();
  let found: Record<string, unknown> | undefined;
  const deadline = Date.now() + 30_000;
  while (!found) {
    for (const m of w.ownerTopic!.messages) {
      if (opened.has(m.payload)) continue;
      opened.add(m.payload);
      const got = await inbox.receive(m.topic, m.payload);
      if (got.ok && got.message.kind === 'receipt' && got.message.body.requestId === id) found = got.message.body;
    }
    if (Date.now() > deadline) throw new Error(`no owner receipt for ${id}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return found;
}

/** Rings, asks for the clip, approves it, and returns once the receiver holds the whole bundle. */
async function approvedAndSent(w: World): Promise<string> {
  await w.agent!.ring();
  const request = makeRequest({ uploadUrl: w.receiver.url('/put/held') });
  const id = String(request.id);
  await w.requester!.client.publishAsync('doorbell/testdoor/request', signedRequest(request), { qos: 1 });
  await w.owner!.decide(await w.owner!.notice(id), 'approve');
  await until(() => w.receiver.received.length === 1, 30_000, 'the bundle at the receiver');
  return id;
}

/** The broker stops; once the agent noticed, the receiver answers and the upload completes. */
async function uploadCompletesWhileBrokerDown(w: World, id: string): Promise<void> {
  await w.broker.stop();
  await waitDisconnected(w.agent!);
  w.receiver.answer();
  await until(() => requestState(w.agent!, id) === 'uploaded', 30_000, 'the request to be uploaded');
}

async function waitDisconnected(t: TestAgent): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = (await t.control('status')) as { broker: { connected: boolean } };
    if (!status.broker.connected) return;
    if (Date.now() > deadline) throw new Error('the agent never noticed the broker was gone');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function receiptFor(m: { payload: Buffer }, id: string): boolean {
  const envelope = JSON.parse(m.payload.toString('utf8')) as { payload?: string };
  return typeof envelope.payload === 'string' && (JSON.parse(envelope.payload) as { requestId?: string }).requestId === id;
}

describe('receipts across a broker outage', () => {
  it('reach the requester and the owner once the broker is back', async () => {
    const w = await startWorld();
    const id = await approvedAndSent(w);
    await uploadCompletesWhileBrokerDown(w, id);
    await w.broker.start();
    await w.requester!.waitFor((m) => m.topic === RECEIPTS && receiptFor(m, id), 30_000, 'the requester receipt');
    expect((await ownerReceipt(w, id)).receiptTo).toBe(RECEIPTS);
  }, 120_000);

  it('reach the requester after the agent was restarted while the broker was down', async () => {
    const w = await startWorld();
    const id = await approvedAndSent(w);
    await uploadCompletesWhileBrokerDown(w, id);
    await w.agent!.stop();
    w.agent = undefined;
    await w.broker.start();
    w.agent = await startTestAgent(w.config, { dir: w.dir });
    await w.requester!.waitFor((m) => m.topic === RECEIPTS && receiptFor(m, id), 30_000, 'the requester receipt');
    expect((await ownerReceipt(w, id)).receiptTo).toBe(RECEIPTS);
  }, 120_000);
});

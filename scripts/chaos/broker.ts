/**
 * The broker killed (SIGKILL) and restarted during a request flow: between the owner's notice and
 * the decision, and in the middle of the upload. The request must still end `uploaded`, the
 * requester must get its receipt, and the agent must not crash or lose anything.
 */
import type { PrivateMosquitto } from '../bench/harness/mosquitto.js';
import { sleep, until } from '../bench/harness/ports.js';
import type { PhaseResult } from './phase.js';
import { ChaosWorld, RECEIPTS } from './world.js';

export interface BrokerOptions {
  broker: PrivateMosquitto;
  workDir: string;
  progress(message: string): void;
}

/** Kills the broker, brings it back on the same port, and waits for the agent to reconnect. */
async function restartBroker(world: ChaosWorld, broker: PrivateMosquitto, downMs: number): Promise<void> {
  await broker.kill();
  await sleep(downMs);
  const back = Date.now();
  await broker.start();
  await world.agentOnline(back);
}

export async function chaosBroker(opts: BrokerOptions): Promise<PhaseResult> {
  const violations: string[] = [];
  const counts: Record<string, number> = {};
  let brokerKills = 0;
  const world = await ChaosWorld.create({
    name: 'broker',
    broker: opts.broker,
    workDir: opts.workDir,
    receiverBytesPerSecond: 128 * 1024,
    parts: { camera: { synthetic: { width: 320, height: 240, fps: 10 } }, record: { preRollSeconds: 2, postRollSeconds: 2 } },
  });
  const expectUploaded = async (id: string, what: string): Promise<void> => {
    try {
      let resentAt = Date.now();
      await until(
        async () => {
          const state = world.stateOf(id);
          // An approval that reached the broker before the agent had resubscribed is gone: the owner's app resends it.
          if (state === 'pending' && Date.now() - resentAt > 10_000) {
            resentAt = Date.now();
            counts['approvals resent'] = (counts['approvals resent'] ?? 0) + 1;
            await world.decideNow(id, 'approve');
          }
          return state === 'uploaded';
        },
        90_000,
        `${id} uploaded`,
        500,
      );
      await world.requester.waitFor((m) => m.topic === RECEIPTS && m.payload.toString().includes(id), 60_000, `the receipt for ${id}`);
    } catch (err) {
      violations.push(`${what}: ${(err as Error).message} (state ${world.stateOf(id)})`);
    }
  };
  try {
    await world.agent.start();
    await sleep(3000);
    await world.ring();
    await world.agent.waitForLog((l) => l.msg === 'clip ready', 30_000, 'a clip');

    opts.progress('broker: killed between the notice and the decision');
    const windowMs = 30 * 60_000;
    const held = await world.sendRequest('hold', windowMs);
    await until(() => world.notices.has(held), 30_000, `the notice for ${held}`);
    await restartBroker(world, opts.broker, 2000);
    brokerKills++;
    await world.decideNow(held, 'approve');
    await expectUploaded(held, 'approval sent after a broker crash');

    opts.progress('broker: killed in the middle of an upload');
    const flowing = await world.sendRequest('approve', windowMs);
    try {
      await until(() => world.receiver.active > 0, 30_000, `the upload of ${flowing} to begin`, 20);
      await restartBroker(world, opts.broker, 3000);
      brokerKills++;
    } catch (err) {
      violations.push(`the upload never began: ${(err as Error).message}`);
    }
    await expectUploaded(flowing, 'upload during a broker crash');

    opts.progress('broker: killed right after the request was published');
    const early = await world.sendRequest('approve', windowMs);
    await restartBroker(world, opts.broker, 1000);
    brokerKills++;
    // A request published just before the broker died may be lost with it (QoS 1 ends at the broker's
    // ack, and Mosquitto had not saved it): that is the requester's to resend. If it got through, it must finish.
    await sleep(5000);
    if (world.stateOf(early) !== undefined) await expectUploaded(early, 'request taken just before a broker crash');
    else counts['requests lost with the broker (not the agent\'s)'] = 1;

    if (!world.agent.running) violations.push(`the agent exited: ${world.agent.stderr.slice(-2000)}`);
    await world.agent.stop();
    violations.push(...world.check().violations);
    counts['broker kills'] = brokerKills;
    counts['bundles received and verified'] = world.receiver.deliveries.filter((d) => d.complete && d.verification?.ok).length;
  } finally {
    await world.dispose();
  }
  return { name: 'broker killed and restarted during request flows', violations, counts };
}

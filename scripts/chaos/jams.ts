/**
 * Work that must not jam (issue 14): two agents on one machine, a message the broker refuses at the
 * head of the outbox, and a receiver that hangs mid-upload.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { sendControl } from '../../agent/control/index.js';
import { openDatabase } from '../../agent/store/database.js';
import { agentFolders, writeBenchConfig } from '../bench/harness/agent-config.js';
import { AgentProcess } from '../bench/harness/agent-process.js';
import type { PrivateMosquitto } from '../bench/harness/mosquitto.js';
import { sleep, until } from '../bench/harness/ports.js';
import type { PhaseResult } from './phase.js';
import { ChaosWorld } from './world.js';

export interface JamOptions {
  broker: PrivateMosquitto;
  workDir: string;
  progress(message: string): void;
}

const SMALL = { camera: { synthetic: { width: 320, height: 240, fps: 10 } }, record: { preRollSeconds: 2, postRollSeconds: 2 } };

/** Two agents with their own stores run side by side; a third on one of those stores gives up at once, touching nothing. */
export async function chaosTwoAgents(opts: JamOptions): Promise<PhaseResult> {
  const violations: string[] = [];
  const counts: Record<string, number> = {};
  const folders = [agentFolders(opts.workDir, 'two-a'), agentFolders(opts.workDir, 'two-b')];
  folders.forEach((f, i) => writeBenchConfig(f, { brokerUrl: opts.broker.url, device: { id: `twodoor${i}` }, ...SMALL }));
  const agents = folders.map((f) => new AgentProcess(f.configFile));
  // Same store as the first, its own runtime folder: only the lock stands between them.
  const intruderFolders = agentFolders(opts.workDir, 'two-c');
  writeBenchConfig({ ...intruderFolders, storageDir: folders[0]!.storageDir }, { brokerUrl: opts.broker.url, device: { id: 'twodoor0' }, ...SMALL });
  const intruder = new AgentProcess(intruderFolders.configFile);
  try {
    for (const a of agents) await a.start();
    await sleep(3000);
    for (const [i, f] of folders.entries()) {
      await sendControl(join(f.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
      await agents[i]!.waitForLog((l) => l.msg === 'clip ready', 30_000, `a clip from agent ${i}`);
    }
    opts.progress('two agents: a third one on the first one’s store');
    const t0 = Date.now();
    try {
      await intruder.start(10_000);
      violations.push('a second agent started on a store another agent was using');
    } catch {
      counts['second agent gave up after ms'] = Date.now() - t0;
    }
    const said = intruder.stderr + intruder.lines.map((l) => JSON.stringify(l)).join('\n');
    if (!said.includes('is using the storage folder')) violations.push(`the second agent did not say why it stopped: ${said.slice(-500)}`);
    await sendControl(join(folders[0]!.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
    await agents[0]!.waitForLog((l) => l.msg === 'clip ready', 30_000, 'a clip after the intruder');
    for (const [i, a] of agents.entries()) {
      if (!a.running) violations.push(`agent ${i} exited: ${a.stderr.slice(-1000)}`);
      if (a.lines.some((l) => /left running by an agent that died/.test(l.msg))) violations.push(`agent ${i} had its ffmpeg ended by another agent`);
    }
    counts['agents side by side'] = agents.length;
  } finally {
    await intruder.stop().catch(() => undefined);
    for (const a of agents) await a.stop().catch(() => undefined);
    for (const f of [...folders, intruderFolders]) f.dispose();
  }
  return { name: 'two agents on one machine', violations, counts };
}

/** A refused topic at the head of the outbox (left by an earlier run): later events flow, SIGTERM stops within 10 s. */
export async function chaosPoison(opts: JamOptions): Promise<PhaseResult> {
  const violations: string[] = [];
  const counts: Record<string, number> = {};
  const world = await ChaosWorld.create({ name: 'poison', broker: opts.broker, workDir: opts.workDir, receiverBytesPerSecond: 1 << 20, parts: SMALL });
  try {
    await world.agent.start();
    await world.agent.stop();
    const db = openDatabase(join(world.storageDir, 'doorbell.db'));
    const insert = db.prepare('INSERT INTO outbox (topic, payload, qos, retain, created_at) VALUES (?, ?, 1, 0, ?)');
    // Mosquitto drops the connection for a control character in a topic.
    for (const n of [1, 2, 3]) insert.run(`${world.topics.event}/\u0001poison${n}`, Buffer.from('poison'), Date.now());
    db.close();
    await world.agent.start();
    await sleep(3000);
    const since = Date.now();
    await world.ring();
    try {
      await world.probe.waitFor((m) => m.topic === world.topics.event && m.receivedAt >= since, 60_000, 'a ring event behind the poison');
      counts['events delivered behind the poison'] = 1;
    } catch (err) {
      violations.push((err as Error).message);
    }
    const t0 = Date.now();
    await world.agent.stop();
    counts['SIGTERM to exit ms'] = Date.now() - t0;
    if (Date.now() - t0 > 10_000) violations.push(`SIGTERM took ${Date.now() - t0} ms`);
    const check = openDatabase(join(world.storageDir, 'doorbell.db'), { readonly: true });
    counts['set aside'] = (check.prepare('SELECT count(*) AS n FROM outbox WHERE set_aside_at IS NOT NULL').get() as { n: number }).n;
    check.close();
    if (counts['set aside'] !== 3) violations.push(`expected the 3 poison messages set aside, found ${counts['set aside']}`);
    violations.push(...world.check().violations);
  } finally {
    await world.dispose();
  }
  return { name: 'a topic the broker refuses, at the head of the outbox', violations, counts };
}

/** One receiver takes the PUT and never answers: another request's upload still completes, the hung one is retried. */
export async function chaosHangingReceiver(opts: JamOptions): Promise<PhaseResult> {
  const violations: string[] = [];
  const counts: Record<string, number> = {};
  const sockets = new Set<Socket>();
  const hung: string[] = [];
  const server: Server = createServer((req: IncomingMessage) => {
    hung.push(req.url ?? '');
    req.resume();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const hangUrl = (id: string): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}/hang/${id}`;
  const world = await ChaosWorld.create({
    name: 'hang',
    broker: opts.broker,
    workDir: opts.workDir,
    receiverBytesPerSecond: 1 << 20,
    parts: {
      ...SMALL,
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPending: 1000, maxPendingPerRequester: 1000, upload: { maxAttempts: 100, stallSeconds: 3 } },
    },
  });
  try {
    await world.agent.start();
    await sleep(3000);
    await world.ring();
    await world.agent.waitForLog((l) => l.msg === 'clip ready', 30_000, 'a clip');
    const stuck = await world.sendRequest('approve', 30 * 60_000, hangUrl);
    await until(() => hung.length > 0, 60_000, 'the hanging receiver to get its PUT', 100);
    const fine = await world.sendRequest('approve', 30 * 60_000);
    try {
      await until(() => world.stateOf(fine) === 'uploaded', 60_000, `${fine} uploaded while ${stuck} hangs`, 250);
    } catch (err) {
      violations.push((err as Error).message);
    }
    await until(() => hung.length >= 2, 60_000, 'the stalled attempt to be retried', 250).catch((err: Error) => violations.push(err.message));
    counts['attempts at the hanging receiver'] = hung.length;
    if (world.stateOf(stuck) !== 'uploading') violations.push(`${stuck} is ${world.stateOf(stuck)}, expected uploading (retrying)`);
    await world.agent.stop();
    violations.push(...world.check().violations);
  } finally {
    await world.dispose();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return { name: 'a receiver that hangs', violations, counts };
}

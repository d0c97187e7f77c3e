/**
 * The store's filesystem full: a 20 MB tmpfs mounted for the store (root only), filled to the last
 * byte while the agent runs. The agent must keep running, say why clips fail, still tell the owner
 * and MQTT what happens (a ring's event, the answer to the owner's ask, the state saying the disk
 * refuses writes), keep the store consistent, and catch up once there is room: record again, and
 * take, notice and upload the requests that arrived meanwhile. Without root it is skipped, saying so.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentFolders } from '../bench/harness/agent-config.js';
import type { PrivateMosquitto } from '../bench/harness/mosquitto.js';
import { json } from '../bench/harness/mqtt.js';
import { sleep, until } from '../bench/harness/ports.js';
import type { PhaseResult } from './phase.js';
import { fillDisk, freeDisk, mountSmallDisk, unmountSmallDisk } from './small-disk.js';
import { ChaosWorld } from './world.js';

export interface DiskFullOptions {
  broker: PrivateMosquitto;
  workDir: string;
  progress(message: string): void;
}

/** Whether the agent's public state says the store takes writes. */
function writable(world: ChaosWorld, since: number, value: boolean): Promise<unknown> {
  return world.probe.waitFor(
    (m) => m.topic === world.topics.state && m.receivedAt > since && (json(m).storage as { writable?: boolean } | undefined)?.writable === value,
    60_000,
    `a state saying storage.writable ${value}`,
  );
}

export async function chaosDiskFull(opts: DiskFullOptions): Promise<PhaseResult> {
  const name = 'store filesystem full';
  const violations: string[] = [];
  const counts: Record<string, number> = {};
  const base = mkdtempSync(join(opts.workDir, 'diskfull-'));
  const mountPoint = join(base, 'mnt');
  mkdirSync(mountPoint);
  const skipped = mountSmallDisk(mountPoint, 20);
  if (skipped) {
    process.stdout.write(`chaos: ${name} skipped: ${skipped}\n`);
    return { name, violations, counts, skipped };
  }
  try {
    const runtimeDir = mkdtempSync('/dev/shm/doorbell-diskfull-');
    const folders: AgentFolders = {
      dir: base,
      runtimeDir,
      configFile: join(base, 'doorbell.yaml'),
      storageDir: join(mountPoint, 'data'),
      dispose: () => rmSync(runtimeDir, { recursive: true, force: true }),
    };
    mkdirSync(folders.storageDir);
    const world = await ChaosWorld.create({
      name: 'diskfull',
      broker: opts.broker,
      workDir: opts.workDir,
      receiverBytesPerSecond: 1024 * 1024,
      folders,
      // The cap is far above the filesystem: the store believes the clip fits, the disk says no.
      parts: { camera: { synthetic: { width: 640, height: 480, fps: 15 } }, record: { preRollSeconds: 1, postRollSeconds: 2 }, storage: { maxBytes: 1024 ** 3 } },
    });
    try {
      await world.agent.start();
      await sleep(2000);
      await world.ring();
      await world.agent.waitForLog((l) => l.msg === 'clip ready', 30_000, 'a clip before the disk fills');

      opts.progress('disk-full: filling the store filesystem');
      const filler = join(mountPoint, 'filler');
      counts['filler bytes'] = fillDisk(filler);
      const since = Date.now();
      const requests: string[] = [];
      // One kind of input at a time, so a crash names its path: rings (clip, event outbox), then requests.
      for (const [what, act] of [
        ['ring', () => world.ring()],
        // Sending asks the owner's question first: the device must answer it on a full disk.
        ['request', async () => requests.push(await world.sendRequest('approve', 30 * 60_000))],
      ] as const) {
        for (let i = 0; i < 2 && world.agent.running; i++) {
          await act().catch((err: Error) => violations.push(`${what} on a full disk failed: ${err.message}`));
          await sleep(3000);
        }
        if (!world.agent.running) violations.push(`the agent died on a full disk after a ${what}`);
      }
      const events = world.probe.messages.filter((m) => m.topic === world.topics.event && m.receivedAt > since).length;
      counts['ring events on MQTT while full'] = events;
      if (events < 2) violations.push(`${events} of 2 rings on a full disk reached MQTT`);
      await writable(world, since, false).catch((err: Error) => violations.push(`the state never said the disk refuses writes: ${err.message}`));
      const said = world.agent.lines.filter(
        (l) => Date.parse(l.time) >= since && (l.level === 'error' || l.level === 'warn') && /full|ENOSPC|SQLITE_FULL/i.test(JSON.stringify(l)),
      );
      counts['log lines naming the full disk'] = said.length;
      if (said.length === 0) violations.push('the agent never logged that the disk is full');
      if (!world.agent.running) {
        violations.push(`the agent died on a full disk: ${world.agent.stderr.slice(-2000) || world.agent.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`);
      } else {
        opts.progress('disk-full: room again, the next ring must record and the requests must catch up');
        freeDisk(filler);
        const freedAt = Date.now();
        await world.ring().catch((err: Error) => violations.push(`ring refused after space came back: ${err.message}`));
        await world.agent
          .waitForLog((l) => l.msg === 'clip ready' && Date.parse(l.time) > freedAt, 60_000, 'a clip once there is room again')
          .catch((err: Error) => violations.push(err.message));
        await writable(world, freedAt, true).catch((err: Error) => violations.push(`the state never said the disk takes writes again: ${err.message}`));
        for (const id of requests) {
          await until(() => world.stateOf(id) === 'uploaded', 120_000, `${id}, sent while the disk was full, uploaded`, 500).catch((err: Error) =>
            violations.push(`${(err as Error).message} (state ${world.stateOf(id) ?? 'never recorded'})`),
          );
        }
        counts['requests from the full disk uploaded'] = requests.filter((id) => world.stateOf(id) === 'uploaded').length;
        await world.agent.stop();
      }
      violations.push(...world.check().violations);
      counts['clips recorded'] = world.ledger.seenReady.size;
    } finally {
      await world.dispose();
      folders.dispose();
    }
  } finally {
    unmountSmallDisk(mountPoint);
    rmSync(base, { recursive: true, force: true });
  }
  return { name, violations, counts };
}

/**
 * Random SIGKILL of the agent while it records, evicts (a store of a few clips), takes requests and
 * uploads to a slow receiver. After every kill the agent's files are checked while it is down; at
 * the end every approved request must reach `uploaded`.
 */
import { runCli } from '../bench/harness/agent-process.js';
import type { PrivateMosquitto } from '../bench/harness/mosquitto.js';
import { sleep, until } from '../bench/harness/ports.js';
import type { PhaseResult } from './phase.js';
import { ChaosWorld } from './world.js';

export interface KillOptions {
  kills: number;
  seconds: number;
  broker: PrivateMosquitto;
  workDir: string;
  progress(message: string): void;
}

const PRE_ROLL_S = 1;
const POST_ROLL_S = 1;
/** Every tenth check also runs the CLI, as an operator would. */
const CLI_AUDIT_EVERY = 10;

const random = (min: number, max: number): number => min + Math.random() * (max - min);

/** What was going on when the kill landed, for the summary. */
function phaseOf(world: ChaosWorld, lastRingAt: number, lastRequestAt: number, now: number): string[] {
  const phases: string[] = [];
  if (world.receiver.active > 0) phases.push('upload');
  if (now - lastRingAt < (PRE_ROLL_S + POST_ROLL_S + 3) * 1000) phases.push('recording');
  if (now - lastRequestAt < 1000) phases.push('request intake');
  const recent = world.agent.lines.slice(-50).some((l) => l.msg === 'evicted clips' && now - Date.parse(l.time) < 2000);
  if (recent) phases.push('eviction');
  return phases.length ? phases : ['idle'];
}

export async function chaosKills(opts: KillOptions): Promise<PhaseResult> {
  const violations: string[] = [];
  const counts: Record<string, number> = {};
  const world = await ChaosWorld.create({
    name: 'kills',
    broker: opts.broker,
    workDir: opts.workDir,
    // A second or two per bundle of a few small clips: long enough to be cut off, short enough to finish.
    receiverBytesPerSecond: 64 * 1024,
    parts: {
      camera: { synthetic: { width: 320, height: 240, fps: 10 } },
      record: { preRollSeconds: PRE_ROLL_S, postRollSeconds: POST_ROLL_S },
      // A handful of clips: the ring evicts all the time.
      storage: { maxBytes: 150_000 },
    },
  });
  const deadline = Date.now() + opts.seconds * 1000;
  let kills = 0;
  try {
    while (kills < opts.kills && Date.now() < deadline) {
      try {
        await world.agent.start(60_000);
      } catch (err) {
        violations.push(`after kill ${kills} the agent did not start again: ${(err as Error).message}`);
        break;
      }
      await world.resendDecisions();
      let lastRingAt = 0;
      let lastRequestAt = 0;
      const runFor = random(300, 6000);
      const ringAt = Math.random() < 0.7 ? random(0, runFor) : -1;
      const requestAt = Math.random() < 0.5 ? random(0, runFor) : -1;
      const started = Date.now();
      let killing = false;
      const actions: Promise<unknown>[] = [];
      if (ringAt >= 0) {
        actions.push(
          sleep(ringAt).then(() => {
            lastRingAt = Date.now();
            return world.ring().catch((err: Error) => {
              if (!killing) violations.push(`ring refused by a running agent: ${err.message}`);
            });
          }),
        );
      }
      if (requestAt >= 0) {
        actions.push(
          sleep(requestAt).then(() => {
            lastRequestAt = Date.now();
            return world.sendRequest(Math.random() < 0.7 ? 'approve' : 'deny');
          }),
        );
      }
      await sleep(runFor - (Date.now() - started));
      if (!world.agent.running) {
        violations.push(`the agent exited by itself during cycle ${kills + 1}: ${world.agent.stderr.slice(-2000)}`);
        break;
      }
      for (const phase of phaseOf(world, lastRingAt, lastRequestAt, Date.now())) counts[`killed during ${phase}`] = (counts[`killed during ${phase}`] ?? 0) + 1;
      killing = true;
      await world.agent.kill();
      kills++;
      await Promise.allSettled(actions);
      const { violations: found } = world.check();
      violations.push(...found.map((v) => `after kill ${kills}: ${v}`));
      if (kills % CLI_AUDIT_EVERY === 0) {
        const audit = await runCli(world.folders.configFile, ['audit', 'verify']);
        if (audit.code !== 0) violations.push(`after kill ${kills}: doorbell audit verify failed: ${audit.stdout}${audit.stderr}`);
        opts.progress(`kills: ${kills}/${opts.kills}, ${violations.length} violation(s)`);
      }
      if (violations.length > 20) break; // enough to act on; the rest would repeat them
    }
    if (kills < opts.kills && violations.length === 0) {
      violations.push(`only ${kills} of ${opts.kills} kills fitted in the --seconds ${opts.seconds} budget`);
    }

    opts.progress('kills: final run, every approved request must end uploaded');
    await world.agent.start(60_000);
    await world.resendDecisions();
    let waiting: string[] = [];
    let resentAt = Date.now();
    try {
      await until(
        async () => {
          const states = world.readStates();
          waiting = [...world.ledger.approved].filter((id) => {
            const state = states.get(id);
            return state !== undefined && state !== 'uploaded';
          });
          if (waiting.some((id) => states.get(id) === 'pending') && Date.now() - resentAt > 5000) {
            resentAt = Date.now();
            await world.resendDecisions();
          }
          return waiting.length === 0;
        },
        180_000,
        'every approved request to be uploaded',
        1000,
      );
    } catch {
      violations.push(`approved uploads never completed: ${waiting.map((id) => `${id} (${world.lastStates.get(id)})`).join(', ')}`);
    }
    // Notices are retained: every request still pending must have reached the owner.
    for (const [id, state] of world.readStates()) {
      if (state === 'pending' && world.intents.has(id) && !world.notices.has(id)) violations.push(`request ${id} is pending but its notice never reached the owner`);
    }
    await world.agent.stop();
    const final = world.check();
    violations.push(...final.violations.map((v) => `after the final clean stop: ${v}`));
    const audit = await runCli(world.folders.configFile, ['audit', 'verify']);
    if (audit.code !== 0) violations.push(`final doorbell audit verify failed: ${audit.stdout}${audit.stderr}`);
    const listed = await runCli(world.folders.configFile, ['clips', 'ls', '--json', '--limit', '100000']);
    const listedIds = listed.code === 0 ? (JSON.parse(listed.stdout) as { id: string }[]).map((c) => c.id) : [];
    if (listed.code !== 0 || listedIds.length !== final.snapshot.readyClips) {
      violations.push(`doorbell clips ls --json lists ${listedIds.length} clips, the store has ${final.snapshot.readyClips}: ${listed.stderr}`);
    }
    const uploads = world.receiver.deliveries;
    Object.assign(counts, {
      kills,
      'requests sent': world.intents.size,
      'approved by the owner': world.ledger.approved.size,
      'denied by the owner': world.ledger.denied.size,
      'uploads started': uploads.length,
      'uploads cut off': uploads.filter((d) => !d.complete).length,
      'bundles received and verified': uploads.filter((d) => d.complete && d.verification?.ok).length,
      'clips evicted (checked as eviction)': world.ledger.evicted,
      'clips in the store at the end': final.snapshot.readyClips,
      'audit entries': final.snapshot.auditEntries,
    });
    for (const [state, n] of Object.entries(final.snapshot.requests)) counts[`requests ${state}`] = n;
  } finally {
    await world.dispose();
  }
  return { name: 'SIGKILL during recording, eviction, intake and upload', violations, counts };
}

/**
 * Resident memory of the agent (`run`, motion off, an external broker, no web server) after sustained
 * simulated activity, against just after start and after the first 10 minutes: `npm run bench --
 * --long` runs the hour with a ring every 10 s; `--soak-minutes` and `--soak-ring-seconds` set it.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { sendControl } from '../../agent/control/index.js';
import { agentFolders, writeBenchConfig } from './harness/agent-config.js';
import { AgentProcess, unitLaunch } from './harness/agent-process.js';
import { sleep } from './harness/ports.js';
import { privateRssBytes, processTree, sampleTree } from './harness/proc-stats.js';
import { MB, round } from './harness/stats.js';
import { row, withGoal, type BenchContext, type BenchResult } from './result.js';

export interface SoakOptions {
  minutes: number;
  ringEverySeconds: number;
  brokerUrl: string;
}

const SETTLE_MS = 15_000;
/** Memory may grow while caches fill; after this it should stay flat. */
const WARM_MS = 10 * 60_000;
const RSS_GOAL_MIB = 64;
const FLAT_GOAL_MIB = 2;

/** The node process alone (ffmpeg's memory does not grow with time: it is a fixed-size encoder). */
function nodeRss(pid: number): number {
  return processTree(pid).find((p) => p.pid === pid)?.rssBytes ?? 0;
}

/** The floor: a node process that loads nothing, with the same options, a few seconds after start. */
async function emptyNode(): Promise<{ rss: number; private: number }> {
  const { nodeFlags, env } = unitLaunch();
  const child = spawn(process.execPath, [...nodeFlags, '-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore', env });
  try {
    await sleep(3000);
    return { rss: nodeRss(child.pid!), private: privateRssBytes(child.pid!) };
  } finally {
    child.kill('SIGKILL');
  }
}

export async function benchSoakMemory(opts: SoakOptions, ctx: BenchContext): Promise<BenchResult> {
  const folders = agentFolders(ctx.workDir, 'soak');
  writeBenchConfig(folders, {
    brokerUrl: opts.brokerUrl,
    // Its own device: with --long it runs beside the others on the same broker, and two agents of
    // one device id take each other's MQTT session (the upload run's owner got no answer).
    device: { id: 'benchsoak' },
    camera: { synthetic: { width: 640, height: 480, fps: 15 } },
    record: { preRollSeconds: 2, postRollSeconds: 3 },
    // Small enough that the ring evicts during the soak, as a long-running doorbell does.
    storage: { maxBytes: 30 * 1024 * 1024 },
  });
  const agent = new AgentProcess(folders.configFile);
  const floor = await emptyNode();
  let startNode = 0;
  let startPrivate = 0;
  let startTree = 0;
  let endNode = 0;
  let endTree = 0;
  let peakNode = 0;
  let warmNode: number | null = null;
  /** Node's RSS each minute of the soak (MiB), to show the curve's shape, not just its ends. */
  const perMinute: number[] = [];
  let rings = 0;
  let clipsReady = 0;
  try {
    await agent.start();
    agent.on('log', (l) => {
      if (l.msg === 'clip ready') clipsReady++;
    });
    await sleep(SETTLE_MS);
    startNode = nodeRss(agent.pid);
    startPrivate = privateRssBytes(agent.pid);
    startTree = sampleTree(agent.pid).rssBytes;
    ctx.progress(`soak: ${opts.minutes} min, a ring every ${opts.ringEverySeconds} s`);
    const began = Date.now();
    const deadline = began + opts.minutes * 60_000;
    while (Date.now() < deadline) {
      await sendControl(join(folders.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
      rings++;
      const next = Date.now() + opts.ringEverySeconds * 1000;
      while (Date.now() < Math.min(next, deadline)) {
        const rss = nodeRss(agent.pid);
        peakNode = Math.max(peakNode, rss);
        if (warmNode === null && Date.now() - began >= WARM_MS) warmNode = rss;
        if (Date.now() - began >= (perMinute.length + 1) * 60_000) perMinute.push(round(rss / MB));
        await sleep(1000);
      }
    }
    await sleep(SETTLE_MS); // the last clip finishes
    endNode = nodeRss(agent.pid);
    peakNode = Math.max(peakNode, endNode);
    endTree = sampleTree(agent.pid).rssBytes;
  } finally {
    await agent.stop();
    folders.dispose();
  }
  const bench = `Agent memory after ${opts.minutes} min with a ring every ${opts.ringEverySeconds} s (${rings} rings, ${clipsReady} clips, eviction on)`;
  const rows = [
    withGoal(
      row(bench, 'node RSS after start', round(startNode / MB), 'MiB', { name: 'an empty node process', value: round(floor.rss / MB) }),
      `≤ ${RSS_GOAL_MIB} MiB`,
      (r) => r.value <= RSS_GOAL_MIB,
    ),
    row(bench, 'node private memory after start (RssAnon)', round(startPrivate / MB), 'MiB', { name: 'an empty node process', value: round(floor.private / MB) }),
    row(bench, 'node RSS at end', round(endNode / MB), 'MiB', { name: 'node RSS after start', value: round(startNode / MB) }, `peak ${round(peakNode / MB)} MiB`),
    row(bench, 'tree RSS at end (node + ffmpeg)', round(endTree / MB), 'MiB', { name: 'after start', value: round(startTree / MB) }),
  ];
  if (warmNode !== null) {
    rows.push(
      withGoal(
        row(bench, 'node RSS growth after the first 10 min', round((endNode - warmNode) / MB), 'MiB', { name: 'node RSS at 10 min', value: round(warmNode / MB) }),
        `flat (≤ ${FLAT_GOAL_MIB} MiB)`,
        (r) => r.value <= FLAT_GOAL_MIB,
      ),
    );
  }
  return {
    name: 'soak-memory',
    rows,
    notes: [
      `Soak: ${opts.minutes} min with a ring every ${opts.ringEverySeconds} s (\`npm run bench -- --long\` runs the hour). "After start" is ${SETTLE_MS / 1000} s after the agent said it started; node runs with the systemd unit's flags and environment (its heap settings, MALLOC_ARENA_MAX). RSS counts the node binary's own pages (most of an empty node process's RSS is its executable, shared with any other node process); private memory (RssAnon) is what the agent's code and data cost.`,
    ],
    raw: { floor, startNode, startPrivate, startTree, endNode, endTree, peakNode, warmNode, rings, clipsReady, perMinuteMiB: perMinute },
  };
}

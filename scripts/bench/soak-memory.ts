/**
 * Resident memory of the agent after sustained simulated activity, against just after start.
 * The issue asks for an hour with a ring every 30 s; `--soak-minutes` and `--soak-ring-seconds` set it.
 */
import { join } from 'node:path';
import { sendControl } from '../../agent/control/index.js';
import { agentFolders, writeBenchConfig } from './harness/agent-config.js';
import { AgentProcess } from './harness/agent-process.js';
import { sleep } from './harness/ports.js';
import { processTree, sampleTree } from './harness/proc-stats.js';
import { MB, round } from './harness/stats.js';
import { row, type BenchContext, type BenchResult } from './result.js';

export interface SoakOptions {
  minutes: number;
  ringEverySeconds: number;
  brokerUrl: string;
}

const SETTLE_MS = 15_000;

/** The node process alone (ffmpeg's memory does not grow with time: it is a fixed-size encoder). */
function nodeRss(pid: number): number {
  return processTree(pid).find((p) => p.pid === pid)?.rssBytes ?? 0;
}

export async function benchSoakMemory(opts: SoakOptions, ctx: BenchContext): Promise<BenchResult> {
  const folders = agentFolders(ctx.workDir, 'soak');
  writeBenchConfig(folders, {
    brokerUrl: opts.brokerUrl,
    camera: { synthetic: { width: 640, height: 480, fps: 15 } },
    record: { preRollSeconds: 2, postRollSeconds: 3 },
    // Small enough that the ring evicts during the soak, as a long-running doorbell does.
    storage: { maxBytes: 30 * 1024 * 1024 },
  });
  const agent = new AgentProcess(folders.configFile);
  let startNode = 0;
  let startTree = 0;
  let endNode = 0;
  let endTree = 0;
  let peakNode = 0;
  let rings = 0;
  let clipsReady = 0;
  try {
    await agent.start();
    agent.on('log', (l) => {
      if (l.msg === 'clip ready') clipsReady++;
    });
    await sleep(SETTLE_MS);
    startNode = nodeRss(agent.pid);
    startTree = sampleTree(agent.pid).rssBytes;
    ctx.progress(`soak: ${opts.minutes} min, a ring every ${opts.ringEverySeconds} s`);
    const deadline = Date.now() + opts.minutes * 60_000;
    while (Date.now() < deadline) {
      await sendControl(join(folders.runtimeDir, 'control.sock'), 'sim', { what: 'ring' });
      rings++;
      const next = Date.now() + opts.ringEverySeconds * 1000;
      while (Date.now() < Math.min(next, deadline)) {
        peakNode = Math.max(peakNode, nodeRss(agent.pid));
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
  return {
    name: 'soak-memory',
    rows: [
      row(bench, 'node RSS at end', round(endNode / MB), 'MiB', { name: 'node RSS after start', value: round(startNode / MB) }, `peak ${round(peakNode / MB)} MiB`),
      row(bench, 'tree RSS at end (node + ffmpeg)', round(endTree / MB), 'MiB', { name: 'after start', value: round(startTree / MB) }),
    ],
    notes: [
      `Soak: ${opts.minutes} min with a ring every ${opts.ringEverySeconds} s was run (the issue's figure is 1 hour with a ring every 30 s: \`npm run bench -- --only soak-memory --soak-minutes 60 --soak-ring-seconds 30\`). "After start" is ${SETTLE_MS / 1000} s after the agent said it started.`,
    ],
    raw: { startNode, startTree, endNode, endTree, peakNode, rings, clipsReady },
  };
}

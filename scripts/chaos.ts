/**
 * `npm run chaos`: fault injection against the real agent process. Exits non-zero on any violation.
 *   --kills N     SIGKILLs of the agent (200)        --fuzz N      malformed inbound messages (100000)
 *   --seconds N   time budget of the kill phase (1800)
 *   --only a,b    phases: kills, broker, camera, disk-full, fuzz, two-agents, poison, hanging-receiver
 * CI runs a short version of every phase: --kills 16 --fuzz 3000 --seconds 120 (test/chaos/chaos-short.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PrivateMosquitto } from './bench/harness/mosquitto.js';
import { chaosBroker } from './chaos/broker.js';
import { chaosCamera } from './chaos/camera.js';
import { chaosDiskFull } from './chaos/disk-full.js';
import { chaosFuzz } from './chaos/fuzz.js';
import { chaosKills } from './chaos/kills.js';
import { chaosHangingReceiver, chaosPoison, chaosTwoAgents } from './chaos/jams.js';
import type { PhaseResult } from './chaos/phase.js';
import { killDescendants } from './chaos/descendants.js';

const OPTIONS = {
  kills: { type: 'string', default: '200' },
  fuzz: { type: 'string', default: '100000' },
  seconds: { type: 'string', default: '1800' },
  only: { type: 'string' },
} as const;

function count(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes a positive whole number, got "${text}"`);
  return n;
}

function printSummary(results: PhaseResult[], seconds: number): void {
  const out: string[] = ['', `chaos summary (${Math.round(seconds)} s)`];
  for (const r of results) {
    const verdict = r.skipped ? `SKIPPED: ${r.skipped}` : r.violations.length ? `FAILED (${r.violations.length} violation(s))` : 'passed';
    out.push(`- ${r.name}: ${verdict}`);
    for (const [k, v] of Object.entries(r.counts)) out.push(`    ${k}: ${v}`);
    for (const v of r.violations) out.push(`    VIOLATION ${v}`);
  }
  process.stdout.write(out.join('\n') + '\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: OPTIONS, strict: true });
  const kills = count('kills', values.kills);
  const fuzz = count('fuzz', values.fuzz);
  const seconds = count('seconds', values.seconds);
  const began = Date.now();
  const progress = (message: string): void => {
    process.stderr.write(`[chaos ${Math.round((Date.now() - began) / 1000)} s] ${message}\n`);
  };
  const workDir = mkdtempSync(join(tmpdir(), 'doorbell-chaos-'));
  // Killed in the broker phase: it keeps the sessions it had a second before, as a persistent broker does.
  const broker = new PrivateMosquitto({ autosaveSeconds: 1 });
  const phases: Record<string, () => Promise<PhaseResult>> = {
    kills: () => chaosKills({ kills, seconds, broker, workDir, progress }),
    broker: () => chaosBroker({ broker, workDir, progress }),
    camera: () => chaosCamera({ broker, workDir, progress }),
    'disk-full': () => chaosDiskFull({ broker, workDir, progress }),
    fuzz: () => chaosFuzz({ messages: fuzz, broker, workDir, progress }),
    'two-agents': () => chaosTwoAgents({ broker, workDir, progress }),
    poison: () => chaosPoison({ broker, workDir, progress }),
    'hanging-receiver': () => chaosHangingReceiver({ broker, workDir, progress }),
  };
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean) ?? Object.keys(phases);
  const unknown = only.filter((name) => !phases[name]);
  if (unknown.length) throw new Error(`unknown phase(s) ${unknown.join(', ')}: choose from ${Object.keys(phases).join(', ')}`);
  const results: PhaseResult[] = [];
  await broker.start();
  try {
    for (const name of only) {
      progress(`${name}: starting`);
      try {
        results.push(await phases[name]!());
      } catch (err) {
        results.push({ name, violations: [`the phase broke off: ${(err as Error).stack ?? String(err)}`], counts: {} });
      }
    }
  } finally {
    await broker.dispose();
    rmSync(workDir, { recursive: true, force: true });
  }
  printSummary(results, (Date.now() - began) / 1000);
  return results.some((r) => r.violations.length > 0) ? 1 : 0;
}

// Stopped early (Ctrl-C, a CI timeout): nothing it started may outlive it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    const killed = killDescendants();
    process.stderr.write(`chaos: ${signal}: ended ${killed} process(es) it had started\n`);
    process.exit(130);
  });
}

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    process.stderr.write(`chaos: ${err.message}\n`);
    process.exitCode = 2;
  },
);

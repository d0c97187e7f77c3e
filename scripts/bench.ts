/**
 * `npm run bench`: every benchmark of issue 7, each against a baseline measured in the same run.
 * Results go to bench/results/<timestamp>.json and bench/results/latest.md (the README's table).
 *   --only a,b              run only these (names below)
 *   --record-seconds N      recording window (60)          --presses N        trigger presses (200)
 *   --rings N               clip-ready rings (20)          --upload-runs N    approvals timed (5)
 *   --store-clips N         store size (100000)            --idle-minutes N   idle write window (3)
 *   --write-clips N         clips for bytes per clip (10)
 *   --soak-minutes N        memory soak (5)                --soak-ring-seconds N  ring spacing (5)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchClipReady } from './bench/clip-ready.js';
import { benchDiskWrites } from './bench/disk-writes.js';
import { PrivateMosquitto } from './bench/harness/mosquitto.js';
import { machineInfo } from './bench/machine.js';
import { benchRecording } from './bench/recording.js';
import { writeReport, type BenchReport } from './bench/report.js';
import type { BenchContext, BenchResult } from './bench/result.js';
import { benchSoakMemory } from './bench/soak-memory.js';
import { benchStoreScale } from './bench/store-scale.js';
import { benchTriggerToMqtt } from './bench/trigger-mqtt.js';
import { benchUpload } from './bench/upload.js';

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

const OPTIONS = {
  only: { type: 'string' },
  'record-seconds': { type: 'string', default: '60' },
  presses: { type: 'string', default: '200' },
  rings: { type: 'string', default: '20' },
  'upload-runs': { type: 'string', default: '5' },
  'store-clips': { type: 'string', default: '100000' },
  'idle-minutes': { type: 'string', default: '3' },
  'write-clips': { type: 'string', default: '10' },
  'soak-minutes': { type: 'string', default: '5' },
  'soak-ring-seconds': { type: 'string', default: '5' },
  out: { type: 'string' },
} as const;

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!(n > 0)) throw new Error(`--${name} takes a positive number, got "${text}"`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: OPTIONS, strict: true });
  const num = (name: keyof typeof OPTIONS): number => positive(name, String(values[name]));
  const broker = new PrivateMosquitto();
  const benches: Record<string, (ctx: BenchContext) => Promise<BenchResult>> = {
    'trigger-mqtt': (ctx) => benchTriggerToMqtt({ presses: num('presses'), brokerUrl: broker.url }, ctx),
    'clip-ready': (ctx) => benchClipReady({ rings: num('rings'), brokerUrl: broker.url }, ctx),
    upload: (ctx) => benchUpload({ runs: num('upload-runs'), brokerUrl: broker.url }, ctx),
    'store-scale': (ctx) => benchStoreScale({ clips: num('store-clips') }, ctx),
    'disk-writes': (ctx) => benchDiskWrites({ idleMinutes: num('idle-minutes'), clips: num('write-clips'), brokerUrl: broker.url }, ctx),
    'soak-memory': (ctx) => benchSoakMemory({ minutes: num('soak-minutes'), ringEverySeconds: num('soak-ring-seconds'), brokerUrl: broker.url }, ctx),
    recording: (ctx) => benchRecording({ seconds: num('record-seconds'), warmupSeconds: 5, brokerUrl: broker.url }, ctx),
  };
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean) ?? Object.keys(benches);
  const unknown = only.filter((name) => !benches[name]);
  if (unknown.length) throw new Error(`unknown benchmark(s) ${unknown.join(', ')}: choose from ${Object.keys(benches).join(', ')}`);

  const workDir = mkdtempSync(join(tmpdir(), 'doorbell-bench-'));
  const startedAt = new Date().toISOString();
  const began = Date.now();
  const ctx: BenchContext = {
    workDir,
    progress: (message) => process.stderr.write(`[bench ${Math.round((Date.now() - began) / 1000)} s] ${message}\n`),
  };
  const report: BenchReport = {
    startedAt,
    finishedAt: '',
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machineInfo(),
    results: [],
    failures: [],
  };
  await broker.start();
  try {
    for (const name of only) {
      try {
        report.results.push(await benches[name]!(ctx));
      } catch (err) {
        const error = (err as Error).stack ?? String(err);
        ctx.progress(`${name} FAILED: ${error}`);
        report.failures.push({ name, error: (err as Error).message });
      }
    }
  } finally {
    await broker.dispose();
    rmSync(workDir, { recursive: true, force: true });
  }
  report.finishedAt = new Date().toISOString();
  const written = writeReport(values.out ?? RESULTS_DIR, report);
  process.stdout.write(`${written.md} and ${written.json} written\n`);
  return report.failures.length ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exitCode = 2;
  },
);

/**
 * `doorbell doctor`: checks what the agent needs from this machine, one line each, with what to do
 * about every failure. It reads and probes; the only thing it writes is a probe file in the store
 * folder, deleted at once.
 */
import type { Config } from '../config.js';
import { checkBroker } from './broker-check.js';
import { checkCamera } from './camera-check.js';
import { checkClock } from './clock-check.js';
import { checkFfmpeg } from './ffmpeg-check.js';
import { checkGpio } from './gpio-check.js';
import { checkOwners } from './owners-check.js';
import { checkOutbox } from './outbox-check.js';
import { systemProbes } from './probes.js';
import { checkRuntimeOnTmpfs, checkStoreSpace, checkStoreWritable } from './store-checks.js';
import type { CheckContext, DoctorCheck, DoctorProbes, DoctorReport } from './types.js';

export type { AgentCamera, BrokerProbe, DoctorCheck, DoctorProbes, DoctorReport, RunResult } from './types.js';
export { parseMounts, mountOf, type Mount } from './mounts.js';

/** In this order: the camera check uses the ffmpeg the first one found. */
const CHECKS: { name: string; run: (ctx: CheckContext) => Promise<DoctorCheck> }[] = [
  { name: 'ffmpeg', run: checkFfmpeg },
  { name: 'camera', run: checkCamera },
  { name: 'gpio', run: checkGpio },
  { name: 'store writable', run: checkStoreWritable },
  { name: 'store space', run: checkStoreSpace },
  { name: 'runtime in RAM', run: checkRuntimeOnTmpfs },
  { name: 'clock', run: checkClock },
  { name: 'broker', run: checkBroker },
  { name: 'owner keys', run: checkOwners },
  { name: 'outbox', run: checkOutbox },
];

export async function runDoctor(config: Config, probes: Partial<DoctorProbes> = {}): Promise<DoctorReport> {
  const ctx: CheckContext = { config, probes: { ...systemProbes, ...probes }, ffmpeg: null };
  const checks: DoctorCheck[] = [];
  for (const check of CHECKS) {
    try {
      checks.push(await check.run(ctx));
    } catch (err) {
      // A check that breaks is itself a finding, reported like any other.
      checks.push({ name: check.name, ok: false, detail: `the check failed: ${(err as Error).message}` });
    }
  }
  return { checks, ok: checks.every((c) => c.ok) };
}

/** The report as a table: ✓ passed, ! passed with a warning, ✗ failed, each fix under its line. */
export function formatReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines: string[] = [];
  for (const c of report.checks) {
    const mark = !c.ok ? '✗' : c.warning ? '!' : '✓';
    lines.push(`${mark} ${c.name.padEnd(width)}  ${c.detail}`);
    if (c.fix && (!c.ok || c.warning)) lines.push(`  ${' '.repeat(width)}  → ${c.fix}`);
  }
  const failed = report.checks.filter((c) => !c.ok).length;
  lines.push('', failed ? `${failed} problem${failed === 1 ? '' : 's'} found` : 'all checks passed');
  return lines.join('\n') + '\n';
}

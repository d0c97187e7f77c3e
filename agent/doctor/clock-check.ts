/** The clock: a Pi has no battery-backed clock, so until NTP syncs, clip times and request windows are wrong. */
import type { CheckContext, DoctorCheck, RunResult } from './types.js';

export async function checkClock(ctx: CheckContext): Promise<DoctorCheck> {
  const name = 'clock';
  const unknown = (why: string): DoctorCheck => ({
    name,
    ok: true,
    warning: true,
    detail: `synchronisation unknown: ${why}`,
    fix: 'make sure an NTP client (systemd-timesyncd, chrony) keeps the clock right',
  });
  let result: RunResult;
  try {
    result = await ctx.probes.run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
  } catch (err) {
    return unknown(`timedatectl cannot run (${(err as Error).message})`);
  }
  const answer = result.stdout.trim();
  if (result.code !== 0 || (answer !== 'yes' && answer !== 'no')) {
    return unknown(`timedatectl gave no answer (${result.stderr.trim().split('\n')[0] || `exit code ${result.code}`})`);
  }
  if (answer === 'no') {
    return {
      name,
      ok: false,
      detail: 'not synchronised with NTP',
      fix: 'turn on time sync: sudo timedatectl set-ntp true (and check the network reaches an NTP server)',
    };
  }
  return { name, ok: true, detail: `synchronised with NTP (${new Date().toISOString()})` };
}

import type { Command } from './command.js';

/**
 * Each command's module, loaded when that command runs: the daemon (`run`) then never holds the
 * demo's broker, the requester's or the doctor's code in memory (a few MiB on a Pi).
 */
const loaders: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run.js')).run,
  demo: async () => (await import('./demo.js')).demo,
  sim: async () => (await import('./sim.js')).sim,
  clips: async () => (await import('./clips.js')).clips,
  owner: async () => (await import('./owner.js')).owner,
  pair: async () => (await import('./pair.js')).pair,
  requests: async () => (await import('./requests.js')).requests,
  request: async () => (await import('./requests.js')).request,
  requester: async () => (await import('./requester.js')).requester,
  board: async () => (await import('./board.js')).board,
  audit: async () => (await import('./audit.js')).audit,
  evidence: async () => (await import('./evidence.js')).evidence,
  doctor: async () => (await import('./doctor.js')).doctor,
  onvif: async () => (await import('./onvif.js')).onvif,
  config: async () => (await import('./config-check.js')).configCheck,
  version: async () => (await import('./version.js')).version,
};

export const commandNames = Object.keys(loaders);

/** The named command, or undefined for a name that is none. */
export async function loadCommand(name: string): Promise<Command | undefined> {
  return Object.hasOwn(loaders, name) ? loaders[name]!() : undefined;
}

/** `doorbell COMMAND --help`: its usage, what it does and its options. */
export function helpFor(name: string, c: Command): string {
  const options = Object.entries(c.options ?? {}).map(
    ([k, o]) => `  --${k}${o.short ? `, -${o.short}` : ''}${o.type === 'string' ? ' VALUE' : ''}`,
  );
  const lines = [`usage: doorbell ${c.usage}`, `  ${c.summary}`];
  if (options.length) lines.push('options:', ...options);
  lines.push('', EXIT_CODES);
  return lines.join('\n') + '\n';
}

const EXIT_CODES = 'Exit codes: 0 ok, 1 failed (or found a problem), 2 wrong command line.';

export async function usage(): Promise<string> {
  const all = await Promise.all(commandNames.map((name) => loadCommand(name)));
  const lines = all.map((c) => `  doorbell ${c!.usage}\n      ${c!.summary}`);
  return `usage:\n${lines.join('\n')}\n\nEvery command takes --config FILE (or $DOORBELL_CONFIG) and --help; doorbell --version prints the version.\n${EXIT_CODES}\n`;
}

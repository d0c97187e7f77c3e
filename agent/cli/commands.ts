import type { Command } from './command.js';
import { audit } from './audit.js';
import { board } from './board.js';
import { clips } from './clips.js';
import { configCheck } from './config-check.js';
import { demo } from './demo.js';
import { doctor } from './doctor.js';
import { evidence } from './evidence.js';
import { onvif } from './onvif.js';
import { owner } from './owner.js';
import { pair } from './pair.js';
import { request, requests } from './requests.js';
import { requester } from './requester.js';
import { run } from './run.js';
import { sim } from './sim.js';
import { version } from './version.js';

export const commands: Record<string, Command> = {
  run,
  demo,
  sim,
  clips,
  owner,
  pair,
  requests,
  request,
  requester,
  board,
  audit,
  evidence,
  doctor,
  onvif,
  config: configCheck,
  version,
};

/** `doorbell COMMAND --help`: its usage, what it does and its options. */
export function helpFor(name: string): string {
  const c = commands[name]!;
  const options = Object.entries(c.options ?? {}).map(
    ([k, o]) => `  --${k}${o.short ? `, -${o.short}` : ''}${o.type === 'string' ? ' VALUE' : ''}`,
  );
  const lines = [`usage: doorbell ${c.usage}`, `  ${c.summary}`];
  if (options.length) lines.push('options:', ...options);
  lines.push('', EXIT_CODES);
  return lines.join('\n') + '\n';
}

const EXIT_CODES = 'Exit codes: 0 ok, 1 failed (or found a problem), 2 wrong command line.';

export function usage(): string {
  const lines = Object.values(commands).map((c) => `  doorbell ${c.usage}\n      ${c.summary}`);
  return `usage:\n${lines.join('\n')}\n\nEvery command takes --config FILE (or $DOORBELL_CONFIG) and --help; doorbell --version prints the version.\n${EXIT_CODES}\n`;
}

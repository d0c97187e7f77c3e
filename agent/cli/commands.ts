import type { Command } from './command.js';
import { audit } from './audit.js';
import { clips } from './clips.js';
import { configCheck } from './config-check.js';
import { demo } from './demo.js';
import { doctor } from './doctor.js';
import { onvif } from './onvif.js';
import { owner } from './owner.js';
import { pair } from './pair.js';
import { request, requests } from './requests.js';
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
  audit,
  doctor,
  onvif,
  config: configCheck,
  version,
};

export function usage(): string {
  const lines = Object.values(commands).map((c) => `  doorbell ${c.usage}\n      ${c.summary}`);
  return `usage:\n${lines.join('\n')}\n\nEvery command takes --config FILE (or $DOORBELL_CONFIG).\n`;
}

import { sendControl } from '../control/index.js';
import { controlSocketPath } from '../main.js';
import { configFrom, configOption, print, type Command } from './command.js';

export const pair: Command = {
  usage: 'pair',
  summary: 'open the 120 s pairing window on the running agent and show its 6-digit code',
  options: configOption,
  async run(_args, flags) {
    const result = (await sendControl(controlSocketPath(configFrom(flags)), 'pair')) as { code: string; expiresAt: string };
    print(`pairing code ${result.code} (valid until ${result.expiresAt}; the first phone to send it is enrolled)`);
    return 0;
  },
};

import { sendControl } from '../control/index.js';
import { controlSocketPath } from '../main.js';
import { formatCode } from '../pairing/index.js';
import { configFrom, configOption, print, type Command } from './command.js';

export const pair: Command = {
  usage: 'pair',
  summary: 'open the 120 s pairing window on the running agent and show its 10-digit code (only here: it never leaves the device)',
  options: configOption,
  async run(_args, flags) {
    const result = (await sendControl(controlSocketPath(configFrom(flags)), 'pair')) as { code: string; expiresAt: string };
    print(`pairing code ${formatCode(result.code)}  (valid until ${result.expiresAt})`);
    print('Type it in the phone app. Whoever has the code can pair: if two phones use it, neither is paired.');
    return 0;
  },
};

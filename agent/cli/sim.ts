import { sendControl } from '../control/index.js';
import { controlSocketPath } from '../main.js';
import { configFrom, configOption, print, type Command } from './command.js';

const WHAT = ['ring', 'motion', 'long-press'];

export const sim: Command = {
  usage: 'sim ring|motion|long-press',
  summary: 'drive the simulated button or PIR of a running agent or demo',
  options: configOption,
  async run(args, flags) {
    const what = args[0];
    if (!what || !WHAT.includes(what)) throw new Error(`usage: doorbell sim ${WHAT.join('|')}`);
    await sendControl(controlSocketPath(configFrom(flags)), 'sim', { what });
    print(`simulated ${what}`);
    return 0;
  },
};

import { sendControl } from '../control/index.js';
import { controlSocketPath } from '../main.js';
import { UsageError, configFrom, configOption, jsonOption, print, printJson, type Command } from './command.js';

const WHAT = ['ring', 'motion', 'long-press'];

export const sim: Command = {
  usage: 'sim ring|motion|long-press [--json]',
  summary: 'drive the simulated button or PIR of a running agent or demo',
  options: { ...configOption, ...jsonOption },
  async run(args, flags) {
    const what = args[0];
    if (!what || !WHAT.includes(what)) throw new UsageError(`simulate what: ${WHAT.join(', ')}?`, 'sim');
    await sendControl(controlSocketPath(configFrom(flags)), 'sim', { what });
    if (flags.json) printJson({ simulated: what });
    else print(`simulated ${what}`);
    return 0;
  },
};

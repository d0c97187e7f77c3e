import { VERSION } from '../version.js';
import { jsonOption, print, printJson, type Command } from './command.js';

export const version: Command = {
  usage: 'version [--json]',
  summary: 'print the agent version (also: doorbell --version)',
  options: jsonOption,
  async run(_args, flags) {
    if (flags.json) printJson({ version: VERSION });
    else print(VERSION);
    return 0;
  },
};

import { VERSION } from '../version.js';
import { print, type Command } from './command.js';

export const version: Command = {
  usage: 'version',
  summary: 'print the agent version',
  async run() {
    print(VERSION);
    return 0;
  },
};

/** `doorbell board …`: run the public request board, or print its verifier key for devices' policy.board.publicKey. */
import { RequestBoard, loadBoardKey } from '../board/index.js';
import { createLogger } from '../log.js';
import { print, UsageError, type Command } from './command.js';

const DEFAULT_NAME = 'doorbell-board';

export const board: Command = {
  usage: 'board serve --listen HOST:PORT --data DIR [--broker URL] [--name NAME] [--prefix P] | board key --data DIR [--name NAME]',
  summary: 'the public request board: an append-only signed log of requests, a public feed, relayed to doorbells',
  options: {
    listen: { type: 'string' },
    data: { type: 'string' },
    broker: { type: 'string' },
    name: { type: 'string' },
    prefix: { type: 'string' },
  },
  async run(args, flags) {
    const [sub] = args;
    if (typeof flags.data !== 'string') throw new UsageError('the board keeps its key and log in --data DIR', 'board');
    const name = typeof flags.name === 'string' ? flags.name : DEFAULT_NAME;
    if (sub === 'key') {
      print(loadBoardKey(flags.data, name).vkey);
      return 0;
    }
    if (sub !== 'serve') throw new UsageError('which one: serve or key?', 'board');
    if (typeof flags.listen !== 'string') throw new UsageError('board serve needs --listen HOST:PORT', 'board');
    const log = createLogger({ pretty: process.stdout.isTTY });
    const service = new RequestBoard({
      dataDir: flags.data,
      listen: flags.listen,
      ...(typeof flags.broker === 'string' ? { brokerUrl: flags.broker } : {}),
      name,
      prefix: typeof flags.prefix === 'string' ? flags.prefix : 'doorbell',
      log,
    });
    await service.start();
    print(`request board on ${service.url}`);
    print(`devices trust it with policy.board: { publicKey: "${service.vkey}", url: "${service.url}" }`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await service.stop();
    return 0;
  },
};

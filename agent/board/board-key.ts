/** The board's Ed25519 key: made on first start in the data folder (0600), never replaced. */
import { existsSync } from 'node:fs';
import { sign } from 'node:crypto';
import { join } from 'node:path';
import { generateOwnerKey, readKeyFile, writeKeyFile, type OwnerKeyPair } from '../owner/index.js';
import { formatVerifierKey } from '../tlog/index.js';

export const BOARD_KEY_FILE = 'board-key.pem';

export interface BoardKey {
  /** The checkpoint origin and the note key name. */
  name: string;
  pair: OwnerKeyPair;
  /** C2SP verifier key: what devices put in policy.board.publicKey. */
  vkey: string;
  sign(message: Uint8Array): Uint8Array;
}

export function loadBoardKey(dataDir: string, name: string): BoardKey {
  const file = join(dataDir, BOARD_KEY_FILE);
  if (!existsSync(file)) writeKeyFile(file, generateOwnerKey().privateKey);
  const pair = readKeyFile(file);
  return {
    name,
    pair,
    vkey: formatVerifierKey({ name, publicKey: pair.publicKeyRaw }),
    sign: (message) => new Uint8Array(sign(null, message, pair.privateKey)),
  };
}

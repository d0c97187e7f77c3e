import { existsSync } from 'node:fs';
import { iso } from '../clock.js';
import { databasePath } from '../main.js';
import { b64urlEncode, generateOwnerKey, OwnerRegistry, writeKeyFile, type OwnerKey } from '../owner/index.js';
import { openCliDatabase } from './database.js';
import type { Config } from '../config.js';
import { systemClock } from '../clock.js';
import { silentLogger } from '../log.js';
import { configFrom, configOption, jsonOption, print, printJson, type Command } from './command.js';
import { decide } from './decide.js';
import { withEnrollment } from './local-or-agent.js';

function listKeys(config: Config): OwnerKey[] {
  if (!existsSync(databasePath(config))) return [];
  const db = openCliDatabase(config);
  try {
    const owners = new OwnerRegistry({ db, clock: systemClock, log: silentLogger });
    owners.start();
    return owners.list();
  } finally {
    db.close();
  }
}

export const owner: Command = {
  usage:
    'owner keygen --out FILE | owner add --name NAME --key PUBLICKEY | owner list [--json] | owner revoke KEYID\n' +
    '         | owner approve REQUEST_ID --key FILE [--clips ID,…] | owner deny REQUEST_ID --key FILE',
  summary: "manage the owners' keys, and approve or deny a request from a terminal",
  options: {
    ...configOption,
    ...jsonOption,
    out: { type: 'string' },
    name: { type: 'string' },
    key: { type: 'string' },
    clips: { type: 'string' },
    wait: { type: 'string' },
  },
  async run(args, flags) {
    const [sub, arg] = args;
    if (sub === 'keygen') {
      if (typeof flags.out !== 'string') throw new Error('usage: doorbell owner keygen --out FILE');
      const key = generateOwnerKey();
      writeKeyFile(flags.out, key.privateKey);
      print(`private key  ${flags.out} (keep it secret; mode 0600)`);
      print(`key id       ${key.keyId}`);
      print(`public key   ${b64urlEncode(key.publicKeyRaw)}`);
      print(`enroll it on the doorbell: doorbell owner add --name "Your name" --key ${b64urlEncode(key.publicKeyRaw)}`);
      return 0;
    }
    const config = configFrom(flags);
    if (sub === 'add') {
      if (typeof flags.name !== 'string' || typeof flags.key !== 'string') {
        throw new Error('usage: doorbell owner add --name NAME --key PUBLICKEY');
      }
      const name = flags.name;
      const publicKey = flags.key;
      const key = (await withEnrollment(config, { cmd: 'owner-add', args: { name, publicKey } }, (e) =>
        e.enroll(name, publicKey, 'cli'),
      )) as OwnerKey;
      print(`enrolled ${key.keyId} (${key.name})`);
      return 0;
    }
    if (sub === 'revoke') {
      if (!arg) throw new Error('usage: doorbell owner revoke KEYID');
      const key = (await withEnrollment(config, { cmd: 'owner-revoke', args: { keyId: arg } }, (e) => e.revoke(arg))) as OwnerKey;
      print(`revoked ${key.keyId} (${key.name})`);
      return 0;
    }
    if (sub === 'list') {
      const keys = listKeys(config);
      if (flags.json) {
        printJson(keys.map((k) => ({ ...k, addedAt: iso(k.addedAt), revokedAt: k.revokedAt === null ? null : iso(k.revokedAt) })));
      } else if (keys.length === 0) print('no owner keys enrolled (doorbell pair, or doorbell owner add)');
      else {
        for (const k of keys) {
          print(`${k.keyId}  ${k.revokedAt === null ? 'active ' : 'revoked'}  ${iso(k.addedAt)}  ${k.via.padEnd(7)}  ${k.name}`);
        }
      }
      return 0;
    }
    if (sub === 'approve' || sub === 'deny') {
      if (!arg || typeof flags.key !== 'string') throw new Error(`usage: doorbell owner ${sub} REQUEST_ID --key FILE`);
      const waitSeconds = flags.wait ? Number(flags.wait) : 900;
      if (!(waitSeconds > 0)) throw new Error('--wait takes a number of seconds');
      return decide(config, {
        requestId: arg,
        keyFile: flags.key,
        decision: sub,
        ...(typeof flags.clips === 'string' ? { clipIds: flags.clips.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        waitSeconds,
      });
    }
    throw new Error(`usage: doorbell ${owner.usage}`);
  },
};

import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { iso } from '../clock.js';
import { databasePath } from '../main.js';
import { fingerprint, RESEND_AFTER_MS } from '../envelope/index.js';
import { generateOwnerKeyFile, OwnerRegistry, readDevicePublicKeys, type OwnerKey } from '../owner/index.js';
import { openCliDatabase } from './database.js';
import type { Config } from '../config.js';
import { systemClock } from '../clock.js';
import { silentLogger } from '../log.js';
import { UsageError, configFrom, configOption, jsonOption, print, printJson, type Command } from './command.js';
import { decide, deviceKeys } from './decide.js';
import { withEnrollment } from './local-or-agent.js';

/** Outside any checkout, so a private key is never committed by accident: $XDG_CONFIG_HOME/doorbell/owner.key. */
export function defaultKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'doorbell', 'owner.key');
}

/** The stable `--json` shape of an owner key (README). */
function keyJson(k: OwnerKey): Record<string, unknown> {
  return { ...k, addedAt: iso(k.addedAt), revokedAt: k.revokedAt === null ? null : iso(k.revokedAt) };
}

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

/** The device's fingerprint, for the owner to compare with what the phone shows after pairing. */
function printDevice(config: Config): void {
  const device = readDevicePublicKeys(config.storage.dir);
  if (device) print(`device ${fingerprint(device.keyId)}  (signing key ${device.signingKey}, sealing key ${device.sealingRecipient})`);
  else print('device keys not created yet: start the agent once');
}

export const owner: Command = {
  usage:
    'owner keygen [--out FILE] | owner add --name NAME --key ED25519_B64URL --seal AGE_RECIPIENT | owner list [--json]\n' +
    '         | owner revoke KEYID\n' +
    '         | owner approve REQUEST_ID [--key FILE] [--clips ID,…] [--resend-after SECONDS] | owner deny REQUEST_ID [--key FILE] [--resend-after SECONDS]\n' +
    '         (the key file defaults to ~/.config/doorbell/owner.key; keygen, add and revoke take --json;\n' +
    '          away from the device approve and deny also take --device-key ED25519_B64URL --device-seal AGE_RECIPIENT;\n' +
    '          an unanswered decision is sent again after --resend-after seconds, default 15, up to 3 sends)',
  summary: "manage the owners' keys, and approve or deny a request from a terminal",
  options: {
    ...configOption,
    ...jsonOption,
    out: { type: 'string' },
    seal: { type: 'string' },
    'device-key': { type: 'string' },
    'device-seal': { type: 'string' },
    name: { type: 'string' },
    key: { type: 'string' },
    clips: { type: 'string' },
    wait: { type: 'string' },
    'resend-after': { type: 'string' },
  },
  async run(args, flags) {
    const [sub, arg] = args;
    if (sub === 'keygen') {
      const out = typeof flags.out === 'string' ? flags.out : defaultKeyFile();
      mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
      const key = await generateOwnerKeyFile(out);
      if (flags.json) {
        printJson({ keyFile: out, keyId: key.keyId, signingKey: key.signingKey, sealingRecipient: key.sealingRecipient });
        return 0;
      }
      print(`private keys ${out} (keep it secret; mode 0600)`);
      print(`key id       ${fingerprint(key.keyId)}`);
      print(`signing key  ${key.signingKey}`);
      print(`sealing key  ${key.sealingRecipient}`);
      print(`enroll it on the doorbell: doorbell owner add --name "Your name" --key ${key.signingKey} --seal ${key.sealingRecipient}`);
      return 0;
    }
    const config = configFrom(flags);
    if (sub === 'add') {
      if (typeof flags.name !== 'string' || typeof flags.key !== 'string' || typeof flags.seal !== 'string') {
        throw new UsageError('owner add needs --name NAME, --key ED25519_B64URL and --seal AGE_RECIPIENT', 'owner');
      }
      const name = flags.name;
      const publicKey = flags.key;
      const sealingRecipient = flags.seal;
      const key = (await withEnrollment(config, { cmd: 'owner-add', args: { name, publicKey, sealingRecipient } }, (e) =>
        e.enroll(name, publicKey, sealingRecipient, 'cli'),
      )) as OwnerKey;
      if (flags.json) {
        printJson(keyJson(key));
        return 0;
      }
      print(`enrolled ${key.keyId} (${key.name})`);
      printDevice(config);
      return 0;
    }
    if (sub === 'revoke') {
      if (!arg) throw new UsageError('owner revoke needs the KEYID (see `doorbell owner list`)', 'owner');
      const key = (await withEnrollment(config, { cmd: 'owner-revoke', args: { keyId: arg } }, (e) => e.revoke(arg))) as OwnerKey;
      if (flags.json) printJson(keyJson(key));
      else print(`revoked ${key.keyId} (${key.name})`);
      return 0;
    }
    if (sub === 'list') {
      const keys = listKeys(config);
      const device = readDevicePublicKeys(config.storage.dir);
      if (flags.json) {
        printJson({
          device: device ? { ...device, fingerprint: fingerprint(device.keyId) } : null,
          owners: keys.map(keyJson),
        });
        return 0;
      }
      printDevice(config);
      if (keys.length === 0) print('no owner keys enrolled (doorbell pair, or doorbell owner add)');
      for (const k of keys) {
        const sealed = k.sealingRecipient ? '' : '  (no sealing key: enroll again to receive notices)';
        print(`${k.keyId}  ${k.revokedAt === null ? 'active ' : 'revoked'}  ${iso(k.addedAt)}  ${k.via.padEnd(10)}  ${k.name}${sealed}`);
      }
      return 0;
    }
    if (sub === 'approve' || sub === 'deny') {
      if (!arg) throw new UsageError(`owner ${sub} needs the REQUEST_ID (see \`doorbell requests ls\`)`, 'owner');
      const waitSeconds = flags.wait ? Number(flags.wait) : 900;
      if (!(waitSeconds > 0)) throw new UsageError('--wait takes a number of seconds', 'owner');
      const resendAfterSeconds = flags['resend-after'] ? Number(flags['resend-after']) : RESEND_AFTER_MS / 1000;
      if (!(resendAfterSeconds > 0)) throw new UsageError('--resend-after takes a number of seconds', 'owner');
      const device = deviceKeys(config, {
        ...(typeof flags['device-key'] === 'string' ? { deviceKey: flags['device-key'] } : {}),
        ...(typeof flags['device-seal'] === 'string' ? { deviceSeal: flags['device-seal'] } : {}),
      });
      return decide(config, {
        requestId: arg,
        keyFile: typeof flags.key === 'string' ? flags.key : defaultKeyFile(),
        device,
        decision: sub,
        ...(typeof flags.clips === 'string' ? { clipIds: flags.clips.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        waitSeconds,
        resendAfterSeconds,
      });
    }
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'which one: keygen, add, list, revoke, approve or deny?', 'owner');
  },
};

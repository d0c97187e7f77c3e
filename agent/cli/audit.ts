import { sign } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditVerifierKey, exportAudit, signCheckpoint, treeOfEntries, verifyAuditChain, verifyExtension } from '../audit/index.js';
import { DEVICE_KEY_FILE, readKeyFile } from '../owner/index.js';
import { parseVerifierKey, rootHash } from '../tlog/index.js';
import type { Config } from '../config.js';
import { openCliDatabase } from './database.js';
import { configFrom, configOption, jsonOption, print, type Command, type Flags } from './command.js';
import { runReport } from './audit-report.js';

export const audit: Command = {
  usage:
    'audit verify [--against CHECKPOINT_FILE] [--device-key VKEY] | audit checkpoint | audit key | audit report [--since DATE] [--json] | audit export [--out FILE]',
  summary: 'check the audit log (and that it extends a checkpoint you kept), print its signed checkpoint, a transparency report, or export it',
  options: { ...configOption, ...jsonOption, out: { type: 'string' }, against: { type: 'string' }, 'device-key': { type: 'string' }, since: { type: 'string' } },
  async run(args, flags) {
    const config = configFrom(flags);
    const db = openCliDatabase(config, { readonly: true });
    try {
      if (args[0] === 'verify') return verify(db, config, flags);
      if (args[0] === 'checkpoint') {
        const key = deviceKey(config);
        const tree = treeOfEntries(db);
        process.stdout.write(signCheckpoint(tree.size, rootHash(tree), key.publicKey, key.sign));
        return 0;
      }
      if (args[0] === 'key') {
        print(auditVerifierKey(deviceKey(config).publicKey));
        return 0;
      }
      if (args[0] === 'report') return runReport(db, flags);
      if (args[0] === 'export') {
        const out = typeof flags.out === 'string' ? createWriteStream(flags.out) : null;
        const n = exportAudit(db, (line) => (out ? out.write(line) : process.stdout.write(line)));
        if (out) {
          await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
          print(`${n} entries written to ${flags.out}`);
        }
        return 0;
      }
      throw new Error(`usage: doorbell ${audit.usage}`);
    } finally {
      db.close();
    }
  },
};

/** The device key beside the database, read only: never created here (only the agent does that). */
function deviceKey(config: Config): { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array } {
  const path = join(config.storage.dir, DEVICE_KEY_FILE);
  if (!existsSync(path)) throw new Error(`no device key at ${path}: the agent has never started with this storage folder`);
  const { privateKey, publicKeyRaw } = readKeyFile(path);
  return { publicKey: publicKeyRaw, sign: (message) => new Uint8Array(sign(null, message, privateKey)) };
}

function verify(db: ReturnType<typeof openCliDatabase>, config: Config, flags: Flags): number {
  const verdict = verifyAuditChain(db);
  if (verdict.ok) print(`audit log ok: ${verdict.seq} entries, head ${verdict.head}`);
  else print(`audit log BROKEN at entry ${verdict.firstBadSeq}: ${verdict.reason}`);
  const chainOk = verdict.ok ? 0 : 1;
  if (typeof flags.against !== 'string') return chainOk;
  const publicKey =
    typeof flags['device-key'] === 'string' ? parseVerifierKey(flags['device-key']).publicKey : deviceKey(config).publicKey;
  const extension = verifyExtension(db, readFileSync(flags.against, 'utf8'), publicKey);
  if (!extension.ok) {
    print(`NOT a consistent extension of ${flags.against}: ${extension.reason}`);
    return 1;
  }
  print(
    `consistent: the log's ${extension.size} entries extend the ${extension.oldSize} the checkpoint in ${flags.against} signed (RFC 6962 consistency proof of ${extension.proofHashes} hashes verified)`,
  );
  return chainOk;
}

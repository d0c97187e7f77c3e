import { createWriteStream, readFileSync } from 'node:fs';
import { auditVerifierKey, exportAudit, signCheckpoint, treeOfEntries, verifyAuditChain, verifyExtension } from '../audit/index.js';
import { DeviceKey, parseB64url } from '../owner/index.js';
import { silentLogger } from '../log.js';
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
        const publicKey = parseB64url(key.publicKey)!;
        process.stdout.write(signCheckpoint(tree.size, rootHash(tree), publicKey, (m) => parseB64url(key.sign(Buffer.from(m)))!));
        return 0;
      }
      if (args[0] === 'key') {
        print(auditVerifierKey(parseB64url(deviceKey(config).publicKey)!));
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

/** The device key beside the database; never created here (only the agent does that). */
function deviceKey(config: Config): DeviceKey {
  const key = new DeviceKey({ dir: config.storage.dir, log: silentLogger });
  try {
    readFileSync(key.path);
  } catch {
    throw new Error(`no device key at ${key.path}: the agent has never started with this storage folder`);
  }
  key.start();
  return key;
}

function verify(db: ReturnType<typeof openCliDatabase>, config: Config, flags: Flags): number {
  const verdict = verifyAuditChain(db);
  if (verdict.ok) print(`audit log ok: ${verdict.seq} entries, head ${verdict.head}`);
  else print(`audit log BROKEN at entry ${verdict.firstBadSeq}: ${verdict.reason}`);
  const chainOk = verdict.ok ? 0 : 1;
  if (typeof flags.against !== 'string') return chainOk;
  const publicKey =
    typeof flags['device-key'] === 'string' ? parseVerifierKey(flags['device-key']).publicKey : parseB64url(deviceKey(config).publicKey)!;
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

import { createWriteStream } from 'node:fs';
import { exportAudit, verifyAuditChain } from '../audit/index.js';
import { openCliDatabase } from './database.js';
import { configFrom, configOption, print, type Command } from './command.js';

export const audit: Command = {
  usage: 'audit verify | audit export [--out FILE]',
  summary: 'recompute the hash chain of the audit log, or write it out as JSON Lines',
  options: { ...configOption, out: { type: 'string' } },
  async run(args, flags) {
    const config = configFrom(flags);
    const db = openCliDatabase(config, { readonly: true });
    try {
      if (args[0] === 'verify') {
        const verdict = verifyAuditChain(db);
        if (verdict.ok) {
          print(`audit log ok: ${verdict.seq} entries, head ${verdict.head}`);
          return 0;
        }
        print(`audit log BROKEN at entry ${verdict.firstBadSeq}: ${verdict.reason}`);
        return 1;
      }
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

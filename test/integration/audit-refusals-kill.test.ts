/**
 * Issue 12 item 3: refusals are never lost. A real child process (the built agent code) refuses a
 * burst of messages and is SIGKILLed the moment the last refusal call returns; after a restart
 * every refusal is in the log, with every reason and sender counted.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../agent/audit/index.js';
import { silentLogger } from '../../agent/log.js';
import { DeviceKey } from '../../agent/owner/index.js';
import { openDatabase } from '../../agent/store/database.js';

const DIST = fileURLToPath(new URL('../../dist/agent/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'refusal-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const REFUSALS: [string, string, Record<string, unknown>][] = [
  ['doorbell/testdoor/request', 'schema', { requester: 'Springfield PD' }],
  ['doorbell/testdoor/request', 'policy', { requester: 'Shelbyville PD' }],
  ['doorbell/testdoor/request', 'not-json', {}],
  ['doorbell/testdoor/request', 'schema', { requester: 'Springfield PD' }],
  ['doorbell/testdoor/owner/decision', 'bad-signature', { keyId: 'aaaaaaaaaaaaaaaa' }],
  ['doorbell/testdoor/owner/decision', 'unknown-key', { keyId: 'bbbbbbbbbbbbbbbb' }],
];

/** The child: refuses the burst in one clock second, says so, and waits to be killed. */
const CHILD = `
const [dist, dir, refusals] = process.argv.slice(1);
const load = (p) => import(new URL(p, dist).href);
const { AuditLog } = await load('audit/index.js');
const { DeviceKey } = await load('owner/index.js');
const { openDatabase } = await load('store/database.js');
const { silentLogger } = await load('log.js');
setTimeout(() => process.exit(3), 20000);
const db = openDatabase(dir + '/doorbell.db');
const key = new DeviceKey({ dir, log: silentLogger });
await key.start();
const at = Date.parse('2026-11-22T15:00:00.000Z');
const audit = new AuditLog({ db, clock: { now: () => at }, log: silentLogger, signer: key });
audit.start();
for (const [topic, reason, data] of JSON.parse(refusals)) audit.appendRefusal(topic, reason, data);
process.stdout.write('refused\\n');
setInterval(() => {}, 1000);
`;

describe('refusals across SIGKILL', () => {
  it('every refusal made before the kill is in the log after restart', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, pathToFileURL(DIST).href + '/', dir, JSON.stringify(REFUSALS)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((done) => child.on('exit', (_code, signal) => done(signal)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('refused') && resolve());
        child.on('exit', () => reject(new Error(`child ended before refusing: ${stderr}`)));
      });
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
    } finally {
      child.kill('SIGKILL');
    }

    const db = openDatabase(join(dir, 'doorbell.db'));
    const key = new DeviceKey({ dir, log: silentLogger });
    await key.start();
    const audit = new AuditLog({ db, clock: { now: () => Date.parse('2026-11-22T15:00:05.000Z') }, log: silentLogger, signer: key });
    try {
      audit.start();
      const rows = (db.prepare('SELECT entry FROM audit_log ORDER BY seq').pluck().all() as string[])
        .map((e) => JSON.parse(e) as { topic: string; count: number; reason: string; reasons?: Record<string, number>; senders?: Record<string, number> })
        .filter((e) => (e as unknown as { type: string }).type === 'refusal');
      const requests = rows.filter((r) => r.topic.endsWith('/request'));
      const decisions = rows.filter((r) => r.topic.endsWith('/decision'));
      expect(requests.reduce((n, r) => n + r.count, 0)).toBe(4);
      expect(decisions.reduce((n, r) => n + r.count, 0)).toBe(2);
      // The first of each burst was written at once; the rest folded into one summary at restart.
      expect(requests).toHaveLength(2);
      expect(requests[0]).toMatchObject({ reason: 'schema', count: 1, requester: 'Springfield PD' });
      expect(requests[1]).toMatchObject({
        count: 3,
        reasons: { policy: 1, 'not-json': 1, schema: 1 },
        senders: { 'Shelbyville PD': 1, unknown: 1, 'Springfield PD': 1 },
      });
      expect(decisions[1]).toMatchObject({ count: 1 });
      expect(db.prepare('SELECT COUNT(*) FROM audit_refusal_pending').pluck().get()).toBe(0);
      expect(audit.treeHead().size).toBe(rows.length);
    } finally {
      audit.stop();
      db.close();
    }
  });
});

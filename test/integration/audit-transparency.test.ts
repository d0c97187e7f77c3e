/**
 * Issue 12: the audit log is a Merkle log with signed C2SP checkpoints, and `doorbell audit verify
 * --against CHECKPOINT` (the built CLI) catches every way an attacker holding the database file can
 * shrink or change history: truncation, rollback to an old copy, a rewritten entry (with the hash
 * chain rewritten too) and a forked log.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AuditLog, auditVerifierKey, chainHash, GENESIS_HASH, openCheckpoint, treeOfEntries } from '../../agent/audit/index.js';
import { silentLogger } from '../../agent/log.js';
import { DeviceKey, parseB64url } from '../../agent/owner/index.js';
import { openDatabase, type Db } from '../../agent/store/database.js';
import { hex, leafHash, openNote, parseVerifierKey, rootHash, verifyConsistency, verifyInclusion } from '../../agent/tlog/index.js';
import { runCli } from '../helpers/child-agent.js';

const root = mkdtempSync(join(tmpdir(), 'audit-transparency-'));
let n = 0;
let now = Date.parse('2026-11-22T15:00:00.000Z');
const clock = { now: () => (now += 10) };

afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Doorbell {
  dir: string;
  file: string;
  configFile: string;
  key: DeviceKey;
}

async function doorbell(): Promise<Doorbell> {
  const dir = join(root, `d${++n}`);
  const key = new DeviceKey({ dir, log: silentLogger });
  await key.start();
  const configFile = join(dir, 'doorbell.yaml');
  writeFileSync(configFile, stringify({ device: { id: 'testdoor' }, runtime: { dir: join(dir, 'run') }, storage: { dir } }));
  return { dir, file: join(dir, 'doorbell.db'), configFile, key };
}

/** Opens the doorbell's database, runs `fn` with its audit log, and closes everything. */
function withLog<T>(d: Doorbell, fn: (log: AuditLog, db: Db) => T, file = d.file): T {
  const db = openDatabase(file);
  const log = new AuditLog({ db, clock, log: silentLogger, signer: d.key });
  try {
    log.start();
    return fn(log, db);
  } finally {
    log.stop();
    db.close();
  }
}

function appendEntries(d: Doorbell, count: number, label = 'a', file = d.file): void {
  withLog(d, (log) => {
    for (let i = 0; i < count; i++) log.append('request', { requestId: `${label}-${i}`, requester: { name: 'Springfield PD', kind: 'police' } });
  }, file);
}

function checkpointFile(d: Doorbell, name: string, file = d.file): string {
  const path = join(d.dir, name);
  writeFileSync(path, withLog(d, (log) => log.checkpoint(), file));
  return path;
}

function dropTriggers(db: Db): void {
  db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete');
}

async function verifyAgainst(d: Doorbell, checkpoint: string, extra: string[] = []) {
  return runCli(['audit', 'verify', '--against', checkpoint, ...extra], d.configFile);
}

describe('Merkle audit log', () => {
  let d: Doorbell;
  beforeEach(async () => {
    d = await doorbell();
  });

  it('keeps every v1 entry as a leaf when migrating, and signs a checkpoint over them', () => {
    appendEntries(d, 7);
    // Back to a protocol-v1 database: no tree, schema version 1.
    const db = openDatabase(d.file);
    db.exec("DROP TABLE audit_tree; DROP TABLE audit_refusal_pending; UPDATE schema_version SET version = 1 WHERE component = 'audit'");
    const v1Root = hex(rootHash(treeOfEntries(db)));
    db.close();
    withLog(d, (log, db2) => {
      const entries = (db2.prepare('SELECT entry FROM audit_log ORDER BY seq').pluck().all() as string[]);
      expect(entries).toHaveLength(7);
      expect(log.treeHead().size).toBe(7);
      expect(hex(log.treeHead().rootHash)).toBe(v1Root);
      const publicKey = parseB64url(d.key.publicKey)!;
      const checkpoint = openCheckpoint(log.checkpoint(), publicKey);
      expect(checkpoint).toMatchObject({ size: 7, origin: `doorbell.local/audit/${d.key.keyId}` });
      // Every old entry is provably in the signed tree, at index seq - 1.
      entries.forEach((entry, i) => {
        expect(verifyInclusion(leafHash(Buffer.from(entry)), i, 7, log.inclusionProof(i, 7), checkpoint.rootHash)).toBe(true);
      });
      log.append('request', { requestId: 'after-migration' });
      const later = openCheckpoint(log.checkpoint(), publicKey);
      expect(verifyConsistency(7, 8, checkpoint.rootHash, later.rootHash, log.consistencyProof(7, 8))).toBe(true);
    });
  });

  it('prints the signed checkpoint and the key to check it with; a later log verifies against it', async () => {
    appendEntries(d, 10);
    const printed = await runCli(['audit', 'checkpoint'], d.configFile);
    expect(printed.code).toBe(0);
    const vkey = (await runCli(['audit', 'key'], d.configFile)).stdout.trim();
    expect(vkey).toBe(auditVerifierKey(parseB64url(d.key.publicKey)!));
    const opened = openNote(printed.stdout, [parseVerifierKey(vkey)]);
    expect(opened.body).toMatch(new RegExp(`^doorbell\\.local/audit/${d.key.keyId}\\n10\\n[A-Za-z0-9+/]{43}=\\n$`));
    const saved = join(d.dir, 'kept.checkpoint');
    writeFileSync(saved, printed.stdout);
    appendEntries(d, 5, 'b');
    const result = await verifyAgainst(d, saved, ['--device-key', vkey]);
    expect(result.stdout).toContain("consistent: the log's 15 entries extend the 10 the checkpoint");
    expect(result.code).toBe(0);
  });

  it('catches truncation: the last entries deleted behind the dropped trigger', async () => {
    appendEntries(d, 10);
    const kept = checkpointFile(d, 'kept');
    const db = openDatabase(d.file);
    dropTriggers(db);
    db.exec('DELETE FROM audit_log WHERE seq > 7; DELETE FROM audit_tree');
    db.close();
    // `audit verify` alone cannot tell: the remaining chain is intact.
    expect((await runCli(['audit', 'verify'], d.configFile)).code).toBe(0);
    const result = await verifyAgainst(d, kept);
    expect(result.stdout).toContain('NOT a consistent extension');
    expect(result.stdout).toContain('the log holds 7 entries, but the checkpoint shows it held 10: entries were deleted or an older copy of the database was restored');
    expect(result.code).toBe(1);
  });

  it('catches entries deleted in the middle even after the log grew past the checkpoint again', async () => {
    appendEntries(d, 10);
    const kept = checkpointFile(d, 'kept');
    const db = openDatabase(d.file);
    dropTriggers(db);
    db.exec('DELETE FROM audit_log WHERE seq BETWEEN 2 AND 9; DELETE FROM audit_tree');
    db.close();
    appendEntries(d, 20, 'later');
    const result = await verifyAgainst(d, kept);
    expect(result.stdout).toContain('the first 10 entries are not the ones the checkpoint signed');
    expect(result.code).toBe(1);
  });

  it('catches a rollback to an old copy of the database', async () => {
    appendEntries(d, 5);
    const copy = join(d.dir, 'backup.db');
    withLog(d, (_log, db) => db.exec(`VACUUM INTO '${copy}'`));
    appendEntries(d, 5, 'b');
    const kept = checkpointFile(d, 'kept');
    for (const suffix of ['-wal', '-shm']) rmSync(d.file + suffix, { force: true });
    copyFileSync(copy, d.file);
    appendEntries(d, 2, 'after-restore');
    const result = await verifyAgainst(d, kept);
    expect(result.stdout).toContain('the log holds 7 entries, but the checkpoint shows it held 10');
    expect(result.code).toBe(1);
  });

  it('catches a rewritten entry even when the hash chain was rewritten to match', async () => {
    appendEntries(d, 10);
    const kept = checkpointFile(d, 'kept');
    const db = openDatabase(d.file);
    dropTriggers(db);
    db.prepare("UPDATE audit_log SET entry = replace(entry, 'Springfield PD', 'Shelbyville PD') WHERE seq = 3").run();
    let previous = GENESIS_HASH;
    for (const row of db.prepare('SELECT seq, entry FROM audit_log ORDER BY seq').all() as { seq: number; entry: string }[]) {
      previous = chainHash(previous, row.entry);
      db.prepare('UPDATE audit_log SET hash = ? WHERE seq = ?').run(previous, row.seq);
    }
    db.close();
    expect((await runCli(['audit', 'verify'], d.configFile)).code).toBe(0);
    const result = await verifyAgainst(d, kept);
    expect(result.stdout).toContain('the first 10 entries are not the ones the checkpoint signed: an entry was rewritten');
    expect(result.code).toBe(1);
  });

  it('catches a forked log: the same start, then a different history of the same length or longer', async () => {
    appendEntries(d, 5);
    const fork = join(d.dir, 'fork.db');
    withLog(d, (_log, db) => db.exec(`VACUUM INTO '${fork}'`));
    appendEntries(d, 4, 'main');
    appendEntries(d, 3, 'fork', fork);
    const forkCheckpoint = checkpointFile(d, 'fork.checkpoint', fork);
    const result = await verifyAgainst(d, forkCheckpoint);
    expect(result.stdout).toContain('the first 8 entries are not the ones the checkpoint signed');
    expect(result.code).toBe(1);
  });

  it("refuses another device's checkpoint", async () => {
    appendEntries(d, 3);
    const other = await doorbell();
    appendEntries(other, 3);
    const foreign = checkpointFile(other, 'foreign');
    const result = await verifyAgainst(d, foreign);
    expect(result.stdout).toContain("the checkpoint is not signed by this device's key");
    expect(result.code).toBe(1);
  });
});

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, exportAudit, verifyAuditChain } from '../../agent/audit/index.js';
import { silentLogger } from '../../agent/log.js';
import { DeviceKey } from '../../agent/owner/index.js';
import { openDatabase, type Db } from '../../agent/store/database.js';

let dir: string;
let file: string;
let db: Db;
let device: DeviceKey;
let now: number;
const clock = { now: () => now };
const logs: AuditLog[] = [];
const extraDbs: Db[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'audit-'));
  file = join(dir, 'doorbell.db');
  db = openDatabase(file);
  device = new DeviceKey({ dir, log: silentLogger });
  await device.start();
  now = Date.parse('2026-11-22T15:00:00.000Z');
});

afterEach(() => {
  for (const log of logs.splice(0)) log.stop();
  for (const other of extraDbs.splice(0)) other.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function auditLog(on: Db = db): AuditLog {
  const log = new AuditLog({ db: on, clock, log: silentLogger, signer: device });
  log.start();
  logs.push(log);
  return log;
}

/** A second connection, as an attacker with the file (or the CLI in another process) would have. */
function secondConnection(): Db {
  const other = openDatabase(file);
  extraDbs.push(other);
  return other;
}

function appendFive(log: AuditLog): void {
  for (let i = 1; i <= 5; i++) {
    log.append('request', { requestId: `rfa-${i}`, valid: i % 2 === 0 });
    now += 1000;
  }
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

describe('AuditLog', () => {
  it('stores each entry as JSON text and chains sha256(previous hex hash, newline, entry)', () => {
    const log = auditLog();
    const first = log.append('request', { requestId: 'rfa-1' });
    now += 1500;
    const second = log.append('decision', { requestId: 'rfa-1', accepted: false, reason: 'expired' });
    const rows = db.prepare('SELECT seq, at, entry, hash FROM audit_log ORDER BY seq').all() as {
      seq: number;
      at: number;
      entry: string;
      hash: string;
    }[];
    expect(rows[0]!.entry).toBe('{"seq":1,"at":"2026-11-22T15:00:00.000Z","type":"request","requestId":"rfa-1"}');
    expect(rows[0]!.hash).toBe(sha256('0'.repeat(64) + '\n' + rows[0]!.entry));
    expect(rows[1]!.hash).toBe(sha256(rows[0]!.hash + '\n' + rows[1]!.entry));
    expect(rows[1]!.at).toBe(now);
    expect(first).toEqual({ seq: 1, hash: rows[0]!.hash });
    expect(second).toEqual({ seq: 2, hash: rows[1]!.hash });
    expect(log.head()).toEqual({ seq: 2, head: rows[1]!.hash });
    expect(verifyAuditChain(db)).toEqual({ ok: true, seq: 2, head: rows[1]!.hash });
  });

  it('starts from 64 zeros and verifies an empty log', () => {
    const log = auditLog();
    expect(log.head()).toEqual({ seq: 0, head: '0'.repeat(64) });
    expect(verifyAuditChain(db)).toEqual({ ok: true, seq: 0, head: '0'.repeat(64) });
  });

  it('refuses data that would overwrite the entry’s own fields', () => {
    const log = auditLog();
    expect(() => log.append('request', { seq: 99 })).toThrow(/must not carry seq/);
    expect(() => log.appendRefusal('doorbell/frontdoor/request', 'bad-json', { count: 5 })).toThrow(/must not carry count/);
    expect(log.head().seq).toBe(0);
  });

  it('keeps one chain when another connection appends too', () => {
    const agent = auditLog();
    const cli = auditLog(secondConnection());
    agent.append('request', { requestId: 'rfa-1' });
    cli.append('enrollment', { keyId: '0123456789abcdef', via: 'cli' });
    agent.append('notice', { requestId: 'rfa-1' });
    expect(verifyAuditChain(db)).toMatchObject({ ok: true, seq: 3 });
  });

  it('tells listeners about every append', () => {
    const log = auditLog();
    const heads: unknown[] = [];
    const unsubscribe = log.onAppend((head) => heads.push(head));
    const { hash } = log.append('request', { requestId: 'rfa-1' });
    unsubscribe();
    log.append('request', { requestId: 'rfa-2' });
    expect(heads).toEqual([{ seq: 1, head: hash }]);
  });
});

describe('tamper evidence', () => {
  it('refuses UPDATE and DELETE through its triggers', () => {
    appendFive(auditLog());
    expect(() => db.prepare("UPDATE audit_log SET entry = '{}' WHERE seq = 2").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_log WHERE seq = 2').run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    expect(verifyAuditChain(db)).toMatchObject({ ok: true, seq: 5 });
  });

  it('reports exactly the seq of an entry edited in the file behind the triggers’ back', () => {
    appendFive(auditLog());
    const attacker = secondConnection();
    attacker.exec('DROP TRIGGER audit_log_no_update');
    attacker.prepare("UPDATE audit_log SET entry = replace(entry, '\"valid\":false', '\"valid\":true') WHERE seq = 3").run();
    expect(verifyAuditChain(db)).toEqual({ ok: false, firstBadSeq: 3, reason: 'the entry or its hash was altered' });
  });

  it('reports an entry whose hash was recomputed by the one after it', () => {
    appendFive(auditLog());
    const attacker = secondConnection();
    attacker.exec('DROP TRIGGER audit_log_no_update');
    const row = attacker.prepare('SELECT entry FROM audit_log WHERE seq = 3').get() as { entry: string };
    const previous = attacker.prepare('SELECT hash FROM audit_log WHERE seq = 2').get() as { hash: string };
    const forged = row.entry.replace('"valid":false', '"valid":true');
    attacker.prepare('UPDATE audit_log SET entry = ?, hash = ? WHERE seq = 3').run(forged, sha256(previous.hash + '\n' + forged));
    expect(verifyAuditChain(db)).toMatchObject({ ok: false, firstBadSeq: 4 });
  });

  it('detects a deleted entry in the middle', () => {
    appendFive(auditLog());
    const attacker = secondConnection();
    attacker.exec('DROP TRIGGER audit_log_no_delete');
    attacker.prepare('DELETE FROM audit_log WHERE seq = 3').run();
    expect(verifyAuditChain(db)).toEqual({ ok: false, firstBadSeq: 3, reason: 'entries 3 to 3 are missing' });
  });
});

describe('refusal bursts', () => {
  const refusalRows = (): { topic: string; count: number; reason: string; reasons?: Record<string, number> }[] =>
    (db.prepare('SELECT entry FROM audit_log ORDER BY seq').all() as { entry: string }[])
      .map((r) => JSON.parse(r.entry))
      .filter((e) => e.type === 'refusal');

  it('folds 1000 refusals on one topic in one second into at most 2 entries counting all 1000', () => {
    const log = auditLog();
    for (let i = 0; i < 1000; i++) log.appendRefusal('doorbell/frontdoor/request', i % 10 ? 'bad-json' : 'too-large', { bytes: i });
    log.stop();
    const rows = refusalRows();
    expect(rows.length).toBeLessThanOrEqual(2);
    expect(rows.reduce((sum, r) => sum + r.count, 0)).toBe(1000);
    expect(rows.at(-1)!.reasons).toEqual({ 'bad-json': 900, 'too-large': 99 });
    expect(verifyAuditChain(db)).toMatchObject({ ok: true });
  });

  it('writes at most one entry per topic per second, carrying the earlier count into the next second', () => {
    const log = auditLog();
    for (let i = 0; i < 50; i++) log.appendRefusal('doorbell/frontdoor/owner/decision', 'bad-signature', {});
    log.appendRefusal('doorbell/frontdoor/owner/pair', 'bad-offer', {});
    expect(refusalRows().map((r) => [r.topic, r.count])).toEqual([
      ['doorbell/frontdoor/owner/decision', 1],
      ['doorbell/frontdoor/owner/pair', 1],
    ]);
    now += 1000;
    log.appendRefusal('doorbell/frontdoor/owner/decision', 'expired', { requestId: 'rfa-1' });
    expect(refusalRows().at(-1)).toMatchObject({
      topic: 'doorbell/frontdoor/owner/decision',
      reason: 'expired',
      requestId: 'rfa-1',
      count: 50,
      reasons: { 'bad-signature': 49, expired: 1 },
    });
    log.stop();
    expect(refusalRows()).toHaveLength(3);
  });
});

describe('exportAudit', () => {
  it('writes one JSON line per entry from which the chain can be recomputed', () => {
    appendFive(auditLog());
    const lines: string[] = [];
    expect(exportAudit(db, (line) => lines.push(line))).toBe(5);
    let previous = '0'.repeat(64);
    for (const [i, line] of lines.entries()) {
      expect(line.endsWith('\n')).toBe(true);
      const record = JSON.parse(line) as { seq: number; entry: { seq: number; type: string }; hash: string };
      expect(record.seq).toBe(i + 1);
      expect(record.entry).toMatchObject({ seq: i + 1, type: 'request' });
      expect(record.hash).toBe(sha256(previous + '\n' + JSON.stringify(record.entry)));
      previous = record.hash;
    }
  });
});

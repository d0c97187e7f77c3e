import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import {
  b64urlEncode,
  generateOwnerKey,
  NonceStore,
  OwnerKeyError,
  OwnerRegistry,
} from '../../agent/owner/index.js';
import { migrate, openDatabase, type Db } from '../../agent/store/database.js';

/** An age X25519 recipient (its identity is of no use to these tests). */
const SEAL = 'age1uavld2hjtuukr96p2r554nuv6wy7e3wtdtlp7jqhvlcxz6hldf4sauegfn';

let dir: string;
let db: Db;
let now: number;
const clock = { now: () => now };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'owner-registry-'));
  db = openDatabase(join(dir, 'doorbell.db'));
  now = Date.parse('2026-11-22T15:00:00.000Z');
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function registry(): OwnerRegistry {
  const r = new OwnerRegistry({ db, clock, log: silentLogger });
  r.start();
  return r;
}

const problem = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof OwnerKeyError) return err.problem;
    throw err;
  }
  return undefined;
};

describe('OwnerRegistry', () => {
  it('adds, lists and finds keys, surviving a reopened database', () => {
    const alice = generateOwnerKey();
    const bob = generateOwnerKey();
    const added = registry().add("Alice's phone", b64urlEncode(alice.publicKeyRaw), SEAL, 'pairing');
    now += 1000;
    registry().add('Bob', b64urlEncode(bob.publicKeyRaw), SEAL, 'cli');
    expect(added).toEqual({
      keyId: alice.keyId,
      name: "Alice's phone",
      publicKey: b64urlEncode(alice.publicKeyRaw),
      sealingRecipient: SEAL,
      addedAt: now - 1000,
      revokedAt: null,
      via: 'pairing',
    });
    db.close();
    db = openDatabase(join(dir, 'doorbell.db'));
    const reopened = registry();
    expect(reopened.list().map((k) => k.name)).toEqual(["Alice's phone", 'Bob']);
    expect(reopened.activeKey(bob.keyId)?.via).toBe('cli');
    expect(reopened.keyStatus(alice.keyId)).toBe('active');
  });

  it('refuses a bad key or name and a key enrolled twice', () => {
    const r = registry();
    const key = b64urlEncode(generateOwnerKey().publicKeyRaw);
    expect(problem(() => r.add('Alice', b64urlEncode(Buffer.alloc(16)), SEAL, 'cli'))).toBe('invalid-key');
    expect(problem(() => r.add('Alice', key + '=', SEAL, 'cli'))).toBe('invalid-key');
    expect(problem(() => r.add('', key, SEAL, 'cli'))).toBe('invalid-name');
    expect(problem(() => r.add('x'.repeat(65), key, SEAL, 'cli'))).toBe('invalid-name');
    expect(problem(() => r.add('line\nbreak', key, SEAL, 'cli'))).toBe('invalid-name');
    r.add('Alice', key, SEAL, 'cli');
    expect(problem(() => r.add('Alice again', key, SEAL, 'pairing'))).toBe('already-enrolled');
    expect(r.list()).toHaveLength(1);
  });

  it('revokes for good: the key is no longer active and cannot be enrolled again', () => {
    const r = registry();
    const alice = generateOwnerKey();
    r.add('Alice', b64urlEncode(alice.publicKeyRaw), SEAL, 'cli');
    now += 5000;
    expect(r.revoke(alice.keyId).revokedAt).toBe(now);
    expect(r.activeKey(alice.keyId)).toBeUndefined();
    expect(r.keyStatus(alice.keyId)).toBe('revoked');
    expect(r.get(alice.keyId)?.revokedAt).toBe(now);
    expect(problem(() => r.revoke(alice.keyId))).toBe('already-revoked');
    expect(problem(() => r.revoke('0123456789abcdef'))).toBe('unknown-key');
    expect(problem(() => r.add('Alice', b64urlEncode(alice.publicKeyRaw), SEAL, 'pairing'))).toBe('revoked');
  });
});

describe('sealing keys', () => {
  it('lists the sealing recipients of enrolled, unrevoked owners only, and refuses a key that is not an age recipient', () => {
    const r = registry();
    const alice = generateOwnerKey();
    const bob = generateOwnerKey();
    const bobSeal = 'age18c3nydct0rhz70w0ukl3xgs2zx5qhkt8t4qacy8yrqj4aly7euysdcujly';
    r.add('Alice', b64urlEncode(alice.publicKeyRaw), SEAL, 'cli');
    now += 1000;
    r.add('Bob', b64urlEncode(bob.publicKeyRaw), bobSeal, 'setup-code');
    expect(r.sealingRecipients()).toEqual([SEAL, bobSeal]);
    r.revoke(alice.keyId);
    expect(r.sealingRecipients()).toEqual([bobSeal]);
    expect(problem(() => r.add('Carol', b64urlEncode(generateOwnerKey().publicKeyRaw), 'age1notarecipient', 'cli'))).toBe('invalid-sealing-key');
  });

  it('migrates a version 1 registry: its keys keep signing, and nothing is sealed to them until they enroll again', () => {
    const alice = generateOwnerKey();
    migrate(db, 'owner', [
      `CREATE TABLE owner_keys (key_id TEXT PRIMARY KEY, name TEXT NOT NULL, public_key TEXT NOT NULL, added_at INTEGER NOT NULL,
         revoked_at INTEGER, via TEXT NOT NULL CHECK (via IN ('cli', 'pairing')))`,
    ]);
    db.prepare("INSERT INTO owner_keys VALUES (?, 'Alice', ?, 1, NULL, 'pairing')").run(alice.keyId, b64urlEncode(alice.publicKeyRaw));
    const r = registry();
    expect(r.activeKey(alice.keyId)).toMatchObject({ name: 'Alice', sealingRecipient: '' });
    expect(r.sealingRecipients()).toEqual([]);
  });
});

describe('NonceStore', () => {
  it('remembers nonces across restarts and prunes only expired ones', () => {
    const store = new NonceStore({ db, clock, log: silentLogger });
    store.start();
    expect(store.remember('n-old', now + 1000)).toBe(true);
    expect(store.remember('n-new', now + 60_000)).toBe(true);
    expect(store.remember('n-new', now + 60_000)).toBe(false);
    store.stop();

    now += 1000;
    const restarted = new NonceStore({ db, clock, log: silentLogger });
    restarted.start();
    expect(restarted.seen('n-old')).toBe(true); // kept until (at least) its expiry
    expect(restarted.prune(now + 1)).toBe(1);
    expect(restarted.seen('n-old')).toBe(false);
    expect(restarted.seen('n-new')).toBe(true);
    restarted.stop();
  });

  it('writes nothing when there is nothing to prune', () => {
    const store = new NonceStore({ db, clock, log: silentLogger });
    store.start();
    store.remember('n', now + 60_000);
    const walSize = (): number => statSync(join(dir, 'doorbell.db-wal')).size;
    const before = walSize();
    expect(store.prune(now)).toBe(0);
    expect(walSize()).toBe(before);
    store.stop();
  });
});

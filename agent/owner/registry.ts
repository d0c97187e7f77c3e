/** Enrolled owner keys. Revocation is final: a revoked key can never be enrolled again. */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { isAgeRecipient } from '../envelope/index.js';
import { migrate, type Db } from '../store/database.js';
import { b64urlEncode, keyIdOf, parseB64url, publicKeyFromRaw } from './crypto.js';

const MIGRATIONS = [
  `CREATE TABLE owner_keys (
     key_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     public_key TEXT NOT NULL,
     added_at INTEGER NOT NULL,
     revoked_at INTEGER,
     via TEXT NOT NULL CHECK (via IN ('cli', 'pairing'))
   )`,
  // Protocol v2: each owner also enrolls an X25519 sealing key (an age recipient), and a headless
  // install can enroll through its setup code. Rows from before carry no sealing key: they can sign,
  // but nothing is sealed to them until they enroll again.
  `CREATE TABLE owner_keys_v2 (
     key_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     public_key TEXT NOT NULL,
     sealing_recipient TEXT NOT NULL,
     added_at INTEGER NOT NULL,
     revoked_at INTEGER,
     via TEXT NOT NULL CHECK (via IN ('cli', 'pairing', 'setup-code'))
   );
   INSERT INTO owner_keys_v2 (key_id, name, public_key, sealing_recipient, added_at, revoked_at, via)
     SELECT key_id, name, public_key, '', added_at, revoked_at, via FROM owner_keys;
   DROP TABLE owner_keys;
   ALTER TABLE owner_keys_v2 RENAME TO owner_keys`,
];

export type EnrolledVia = 'cli' | 'pairing' | 'setup-code';
export type KeyStatus = 'active' | 'revoked' | 'unknown';

export interface OwnerKey {
  keyId: string;
  name: string;
  /** Base64url of the 32 raw Ed25519 public-key bytes. */
  publicKey: string;
  /** The owner's X25519 sealing key as an age recipient (`age1…`); empty for a key enrolled before v2. */
  sealingRecipient: string;
  addedAt: number;
  revokedAt: number | null;
  via: EnrolledVia;
}

export type OwnerKeyProblem = 'invalid-key' | 'invalid-sealing-key' | 'invalid-name' | 'already-enrolled' | 'revoked' | 'unknown-key' | 'already-revoked';

export class OwnerKeyError extends Error {
  constructor(
    readonly problem: OwnerKeyProblem,
    message: string,
  ) {
    super(message);
    this.name = 'OwnerKeyError';
  }
}

// Printable: no control, format (bidi overrides), private-use or unassigned characters, no line breaks.
const OWNER_NAME = /^[^\p{C}\p{Zl}\p{Zp}]{1,64}$/u;

export function isValidOwnerName(name: unknown): name is string {
  return typeof name === 'string' && OWNER_NAME.test(name) && name.trim().length > 0;
}

/** The raw bytes of a base64url Ed25519 public key, or undefined when it is not one. */
export function parseOwnerPublicKey(text: unknown): Buffer | undefined {
  const raw = parseB64url(text);
  if (!raw || raw.length !== 32) return undefined;
  try {
    publicKeyFromRaw(raw);
    return raw;
  } catch {
    // OpenSSL refused the bytes as a key: for a parser that is simply "not a key".
    return undefined;
  }
}

interface Row {
  key_id: string;
  name: string;
  public_key: string;
  sealing_recipient: string;
  added_at: number;
  revoked_at: number | null;
  via: EnrolledVia;
}

const toKey = (r: Row): OwnerKey => ({
  keyId: r.key_id,
  name: r.name,
  publicKey: r.public_key,
  sealingRecipient: r.sealing_recipient,
  addedAt: r.added_at,
  revokedAt: r.revoked_at,
  via: r.via,
});

export interface OwnerRegistryDeps {
  db: Db;
  clock: Clock;
  log: Logger;
}

export class OwnerRegistry {
  constructor(private readonly deps: OwnerRegistryDeps) {}

  start(): void {
    migrate(this.deps.db, 'owner', MIGRATIONS);
  }

  add(name: string, publicKeyB64url: string, sealingRecipient: string, via: EnrolledVia): OwnerKey {
    if (!isValidOwnerName(name)) {
      throw new OwnerKeyError('invalid-name', 'an owner name is 1 to 64 printable characters');
    }
    const raw = parseOwnerPublicKey(publicKeyB64url);
    if (!raw) {
      throw new OwnerKeyError('invalid-key', 'the public key must be 32 raw Ed25519 bytes as unpadded base64url');
    }
    if (!isAgeRecipient(sealingRecipient)) {
      throw new OwnerKeyError('invalid-sealing-key', 'the sealing key must be an age X25519 recipient (age1…, 62 characters)');
    }
    const keyId = keyIdOf(raw);
    const key: OwnerKey = {
      keyId,
      name,
      publicKey: b64urlEncode(raw),
      sealingRecipient,
      addedAt: this.deps.clock.now(),
      revokedAt: null,
      via,
    };
    this.deps.db.transaction(() => {
      const existing = this.get(keyId);
      if (existing?.revokedAt != null) {
        throw new OwnerKeyError('revoked', `key ${keyId} was revoked; revocation is final, enroll a new key instead`);
      }
      if (existing) throw new OwnerKeyError('already-enrolled', `key ${keyId} is already enrolled as "${existing.name}"`);
      this.deps.db
        .prepare(
          'INSERT INTO owner_keys (key_id, name, public_key, sealing_recipient, added_at, revoked_at, via) VALUES (?, ?, ?, ?, ?, NULL, ?)',
        )
        .run(key.keyId, key.name, key.publicKey, key.sealingRecipient, key.addedAt, key.via);
    })();
    this.deps.log.info('owner key enrolled', { keyId, name, via });
    return key;
  }

  list(): OwnerKey[] {
    return (this.deps.db.prepare('SELECT * FROM owner_keys ORDER BY added_at, key_id').all() as Row[]).map(toKey);
  }

  get(keyId: string): OwnerKey | undefined {
    const row = this.deps.db.prepare('SELECT * FROM owner_keys WHERE key_id = ?').get(keyId) as Row | undefined;
    return row && toKey(row);
  }

  revoke(keyId: string): OwnerKey {
    const revoked = this.deps.db.transaction(() => {
      const existing = this.get(keyId);
      if (!existing) throw new OwnerKeyError('unknown-key', `no owner key ${keyId} is enrolled`);
      if (existing.revokedAt != null) throw new OwnerKeyError('already-revoked', `key ${keyId} is already revoked`);
      const revokedAt = this.deps.clock.now();
      this.deps.db.prepare('UPDATE owner_keys SET revoked_at = ? WHERE key_id = ?').run(revokedAt, keyId);
      return { ...existing, revokedAt };
    })();
    this.deps.log.info('owner key revoked', { keyId, name: revoked.name });
    return revoked;
  }

  /** The key if it is enrolled and not revoked: the only keys whose signatures count. */
  activeKey(keyId: string): OwnerKey | undefined {
    const key = this.get(keyId);
    return key && key.revokedAt == null ? key : undefined;
  }

  /** Every enrolled, unrevoked owner's age recipient: who owner-bound messages are sealed to. */
  sealingRecipients(): string[] {
    const rows = this.deps.db
      .prepare("SELECT sealing_recipient FROM owner_keys WHERE revoked_at IS NULL AND sealing_recipient != '' ORDER BY added_at, key_id")
      .all() as { sealing_recipient: string }[];
    return rows.map((r) => r.sealing_recipient);
  }

  keyStatus(keyId: string): KeyStatus {
    const key = this.get(keyId);
    if (!key) return 'unknown';
    return key.revokedAt == null ? 'active' : 'revoked';
  }
}

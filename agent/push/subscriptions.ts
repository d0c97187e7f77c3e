/** One push subscription per owner key, in SQLite beside the registry it depends on. */
import { migrate, type Db } from '../store/database.js';
import type { PushKind, PushSubscriptionKeys } from './subscription-message.js';

const MIGRATIONS = [
  // endpoint NULL: the owner unsubscribed; the row keeps `updated_at`, so an older message replayed cannot resubscribe.
  `CREATE TABLE push_subscriptions (
     owner_key_id TEXT PRIMARY KEY,
     endpoint TEXT, p256dh TEXT, auth TEXT,
     kinds TEXT NOT NULL, details INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) WITHOUT ROWID`,
];

export interface StoredSubscription {
  ownerKeyId: string;
  subscription: PushSubscriptionKeys;
  kinds: PushKind[];
  details: boolean;
}

interface Row {
  owner_key_id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  kinds: string;
  details: number;
}

export class PushSubscriptions {
  constructor(private readonly db: Db) {}

  start(): void {
    migrate(this.db, 'push-subscriptions', MIGRATIONS);
  }

  /** When this owner key's subscription last changed (ms), or undefined. */
  updatedAt(ownerKeyId: string): number | undefined {
    const row = this.db.prepare('SELECT updated_at FROM push_subscriptions WHERE owner_key_id = ?').get(ownerKeyId) as
      | { updated_at: number }
      | undefined;
    return row?.updated_at;
  }

  put(ownerKeyId: string, sub: PushSubscriptionKeys | null, kinds: PushKind[], details: boolean, at: number): void {
    this.db
      .prepare(
        `INSERT INTO push_subscriptions (owner_key_id, endpoint, p256dh, auth, kinds, details, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (owner_key_id) DO UPDATE SET endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth,
           kinds = excluded.kinds, details = excluded.details, updated_at = excluded.updated_at`,
      )
      .run(ownerKeyId, sub?.endpoint ?? null, sub?.p256dh ?? null, sub?.auth ?? null, JSON.stringify(kinds), details ? 1 : 0, at);
  }

  /** Forgets the endpoint only if it is still this one (the owner may have subscribed anew meanwhile). */
  remove(ownerKeyId: string, endpoint: string): boolean {
    return (
      this.db
        .prepare('UPDATE push_subscriptions SET endpoint = NULL, p256dh = NULL, auth = NULL WHERE owner_key_id = ? AND endpoint = ?')
        .run(ownerKeyId, endpoint).changes === 1
    );
  }

  active(): StoredSubscription[] {
    const rows = this.db.prepare('SELECT * FROM push_subscriptions WHERE endpoint IS NOT NULL ORDER BY owner_key_id').all() as Row[];
    return rows.map((r) => ({
      ownerKeyId: r.owner_key_id,
      subscription: { endpoint: r.endpoint, p256dh: r.p256dh, auth: r.auth },
      kinds: JSON.parse(r.kinds) as PushKind[],
      details: r.details === 1,
    }));
  }
}

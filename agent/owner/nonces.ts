/** Decision nonces, kept at least until the decision they came with expires, so none is accepted twice. */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { migrate, type Db } from '../store/database.js';

const MIGRATIONS = [
  `CREATE TABLE owner_nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX owner_nonces_expires_at ON owner_nonces (expires_at)`,
];

const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

export interface NonceStoreDeps {
  db: Db;
  clock: Clock;
  log: Logger;
}

export class NonceStore {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: NonceStoreDeps) {}

  start(): void {
    migrate(this.deps.db, 'owner-nonces', MIGRATIONS);
    this.prune(this.deps.clock.now());
    this.timer = setInterval(() => {
      try {
        this.prune(this.deps.clock.now());
      } catch (err) {
        this.deps.log.error('pruning expired nonces failed', { err });
      }
    }, PRUNE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  seen(nonce: string): boolean {
    return this.deps.db.prepare('SELECT 1 FROM owner_nonces WHERE nonce = ?').get(nonce) !== undefined;
  }

  /** Stores the nonce; false when it was already stored (a replay that raced the `seen` check). */
  remember(nonce: string, expiresAt: number): boolean {
    if (!Number.isFinite(expiresAt)) throw new TypeError('a nonce needs a finite expiry time');
    return this.deps.db.prepare('INSERT OR IGNORE INTO owner_nonces (nonce, expires_at) VALUES (?, ?)').run(nonce, expiresAt).changes === 1;
  }

  /** Deletes nonces whose decision expired before `now`; returns how many. Writes nothing when none did. */
  prune(now: number): number {
    const due = this.deps.db.prepare('SELECT 1 FROM owner_nonces WHERE expires_at < ? LIMIT 1').get(now);
    if (!due) return 0;
    const removed = this.deps.db.prepare('DELETE FROM owner_nonces WHERE expires_at < ?').run(now).changes;
    this.deps.log.debug('expired nonces pruned', { removed });
    return removed;
  }
}

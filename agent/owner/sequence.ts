/**
 * The device's message counter (protocol.md "Freshness"): strictly increasing across restarts and
 * across the agent and the CLI, which share the database. Blocks of numbers are reserved in one
 * write, so a message costs no SD-card write; a crash skips the rest of a block, never reuses it.
 * The next block is reserved once half of the current one is used, so a full disk (the write fails)
 * still leaves hundreds of numbers for telling the owners about it.
 */
import type { Logger } from '../log.js';
import { migrate, type Db } from '../store/database.js';

const MIGRATIONS = [`CREATE TABLE device_seq (id INTEGER PRIMARY KEY CHECK (id = 1), reserved INTEGER NOT NULL)`];
const BLOCK = 1000;

interface Block {
  next: number;
  /** One past the last number of the block. */
  limit: number;
}

export class DeviceSequence {
  private current: Block = { next: 0, limit: 0 };
  private ahead: Block | null = null;
  private reserveFailing = false;

  constructor(
    private readonly db: Db,
    private readonly log?: Logger,
  ) {}

  start(): void {
    migrate(this.db, 'device-seq', MIGRATIONS);
  }

  /** The next number; throws only when no reserved number is left and none can be reserved. */
  take(): number {
    if (this.current.next >= this.current.limit) {
      this.current = this.ahead ?? this.reserve();
      this.ahead = null;
    }
    const n = this.current.next++;
    if (!this.ahead && this.current.limit - this.current.next <= BLOCK / 2) this.reserveAhead();
    return n;
  }

  private reserveAhead(): void {
    try {
      this.ahead = this.reserve();
      if (this.reserveFailing) this.log?.info('message numbers can be reserved again');
      this.reserveFailing = false;
    } catch (err) {
      // Tried again with the next message; logged once per run of failures.
      if (!this.reserveFailing) {
        this.log?.error('could not reserve the next block of message numbers; the current block still has some', {
          left: this.current.limit - this.current.next,
          error: (err as Error).message,
        });
      }
      this.reserveFailing = true;
    }
  }

  private reserve(): Block {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT reserved FROM device_seq WHERE id = 1').get() as { reserved: number } | undefined;
      const from = (row?.reserved ?? 0) + 1;
      this.db
        .prepare('INSERT INTO device_seq (id, reserved) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET reserved = excluded.reserved')
        .run(from + BLOCK - 1);
      return { next: from, limit: from + BLOCK };
    })();
  }
}

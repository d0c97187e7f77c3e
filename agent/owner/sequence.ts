/**
 * The device's message counter (protocol.md "Freshness"): strictly increasing across restarts and
 * across the agent and the CLI, which share the database. Blocks of numbers are reserved in one
 * write, so a message costs no SD-card write; a crash skips the rest of a block, never reuses it.
 */
import { migrate, type Db } from '../store/database.js';

const MIGRATIONS = [`CREATE TABLE device_seq (id INTEGER PRIMARY KEY CHECK (id = 1), reserved INTEGER NOT NULL)`];
const BLOCK = 1000;

export class DeviceSequence {
  private next = 0;
  private limit = 0;

  constructor(private readonly db: Db) {}

  start(): void {
    migrate(this.db, 'device-seq', MIGRATIONS);
  }

  take(): number {
    if (this.next >= this.limit) this.reserve();
    return this.next++;
  }

  private reserve(): void {
    this.db.transaction(() => {
      const row = this.db.prepare('SELECT reserved FROM device_seq WHERE id = 1').get() as { reserved: number } | undefined;
      const from = (row?.reserved ?? 0) + 1;
      this.db
        .prepare('INSERT INTO device_seq (id, reserved) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET reserved = excluded.reserved')
        .run(from + BLOCK - 1);
      this.next = from;
      this.limit = from + BLOCK;
    })();
  }
}

/**
 * Messages that must not be lost (events, notices, statuses, receipts) wait in SQLite until the
 * broker has acknowledged them: mqtt.js's own offline queue is memory only and dies with the process.
 * Ordered messages leave one at a time in the order they were queued; an independent one (a
 * requester's receipt) is delivered on its own and neither waits behind nor holds back any other.
 * When the disk refuses a write (full), ordered messages wait in memory behind the stored ones and
 * are still delivered; what the disk refused is written as soon as it takes it (a restart before
 * then loses only that).
 */
import type { Db } from '../store/database.js';
import type { Logger } from '../log.js';
import { OutboxTable, type OutboxRow, type RowAmendment } from './outbox-table.js';

/** A waiting message: a row of the table, or (id null) one the disk refused, kept in memory. */
interface OutboxMessage {
  id: number | null;
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  attempts: number;
}

export interface SetAside {
  /** null: a message the disk had refused, given up from memory. */
  id: number | null;
  topic: string;
  attempts: number;
  error: string;
}

export interface EnqueueOptions {
  qos: 0 | 1;
  retain: boolean;
  /** Outside the ordered stream: for a message whose topic someone else chose (a requester's receipt). */
  independent?: boolean;
}

export interface Publisher {
  /** Rejects with BrokerOffline when the message never reached the broker: that is not a failed attempt. */
  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
}

/** The broker went away before the message was handed to it: delivery waits for the next connection. */
export class BrokerOffline extends Error {
  constructor() {
    super('broker disconnected');
  }
}

/** Failed deliveries of one message before it is set aside (a refused topic fails every time). */
export const OUTBOX_MAX_ATTEMPTS = 3;

/** Beyond this many waiting messages the oldest are dropped (logged): weeks offline must not fill the disk. */
export const OUTBOX_LIMIT = 10_000;

/** Bytes of messages kept in memory while the disk refuses them; beyond this the oldest are dropped (logged). */
const UNSTORED_LIMIT_BYTES = 8 * 1024 * 1024;
/** How often what the disk refused is offered to it again while nothing else does. */
const CATCH_UP_MS = 30_000;

export class Outbox {
  /** Delivery under way, per kind: the two never wait for each other. */
  private readonly flushing: { ordered: Promise<void> | null; independent: Promise<void> | null } = { ordered: null, independent: null };
  /** Ordered messages the disk refused, in order: all of them come after every stored ordered row. */
  private readonly unstored: OutboxMessage[] = [];
  private unstoredBytes = 0;
  /** The message kept in memory that is on its way to the broker: catchUp() stores nothing while it is. */
  private inFlight: OutboxMessage | null = null;
  /** What the disk refused to record about stored rows: written by catchUp() once it takes it. */
  private readonly notes = new Map<number, RowAmendment>();
  private catchUpTimer: NodeJS.Timeout | null = null;
  private refusal: string | null = null;
  private readonly table: OutboxTable;

  constructor(
    private readonly deps: {
      db: Db;
      log: Logger;
      now: () => number;
      /** Told about each message set aside (the agent audits it and shows it in the state). */
      onSetAside?: (message: SetAside) => void;
      /** Told when the disk starts or stops refusing the outbox's writes (the agent shows it in the state). */
      onDiskRefusal?: () => void;
    },
  ) {
    this.table = new OutboxTable(deps.db);
  }

  start(): void {
    this.table.start();
  }

  stop(): void {
    if (this.catchUpTimer) clearInterval(this.catchUpTimer);
    this.catchUpTimer = null;
  }

  /**
   * Stores a message for the next flush. An ordered one the disk refuses is kept in memory; an
   * independent one, or one queued inside the caller's transaction (which SQLite may have rolled
   * back), throws to the caller.
   */
  enqueue(topic: string, payload: Buffer, opts: EnqueueOptions): void {
    this.store({ id: null, topic, payload, qos: opts.qos, retain: opts.retain, attempts: 0 }, opts.independent ?? false);
  }

  /**
   * Stores an ordered message and delivers it after everything already waiting. When nothing waits or
   * is in flight, the message goes to the broker first and its row is written a moment later: the write's
   * fsync (a few ms, tens of ms at the tail on a busy SD card) then overlaps the broker's round trip
   * instead of delaying a ring. Nothing is weaker for it: until the write, the bytes are in the
   * kernel's socket buffer, which survives the process; a power cut loses an unsynced row either way.
   * A message acknowledged before its write is not written at all; one that fails is retried like any
   * other, from memory if the disk refused it.
   */
  send(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain: boolean }, publisher: Publisher): Promise<void> {
    const message: OutboxMessage = { id: null, topic, payload, qos: opts.qos, retain: opts.retain, attempts: 0 };
    if (this.busy()) {
      this.store(message, false);
      return this.flush(publisher);
    }
    this.flushing.ordered = this.sendFirst(message, publisher)
      .then(() => this.drainOrdered(publisher))
      .finally(() => {
        this.flushing.ordered = null;
      });
    return this.flushing.ordered;
  }

  private async sendFirst(message: OutboxMessage, publisher: Publisher): Promise<void> {
    let acknowledged = false;
    this.inFlight = message;
    const delivery = publisher.publish(message.topic, message.payload, { qos: message.qos, retain: message.retain }).then(() => {
      acknowledged = true;
    });
    // mqtt.js hands the packet to the socket on a later tick of this turn; the row is written after it.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!acknowledged) this.store(message, false);
    try {
      await delivery;
    } catch (err) {
      this.inFlight = null;
      if (!(err instanceof BrokerOffline)) this.failed(message, err as Error);
      throw err;
    }
    this.inFlight = null;
    this.delivered(message);
  }

  /** Messages waiting for delivery (not counting those set aside), in the table or kept in memory. */
  pending(): number {
    const finished = [...this.notes.values()].filter((n) => n.delivered || n.setAsideAt !== null).length;
    return this.table.waiting() - finished + this.unstored.length;
  }

  /** Messages the disk refused to store, kept in memory until it takes them. */
  unstoredCount(): number {
    return this.unstored.length;
  }

  /** Why the disk refuses the outbox's writes (SQLite's message), or null while it takes them. */
  diskRefusal(): string | null {
    return this.refusal;
  }

  /** Whether an ordered message is waiting or on its way: what a superseded message (progress) must not overtake. */
  busy(): boolean {
    return this.flushing.ordered !== null || this.unstored.length > 0 || this.table.waiting({ ordered: true }) > 0;
  }

  /** Messages the broker refused OUTBOX_MAX_ATTEMPTS times: kept for inspection, never retried. */
  setAside(): number {
    const noted = [...this.notes.values()].filter((n) => !n.delivered && n.setAsideAt !== null).length;
    return this.table.setAsideCount() + noted;
  }

  /**
   * Publishes everything waiting; a message is deleted only after the broker acknowledged it. Ordered
   * messages go one at a time: a failure pauses them (the caller retries) unless it was that message's
   * last chance, when it is set aside and the next one goes. Independent messages go one at a time
   * beside them, each failing alone.
   */
  flush(publisher: Publisher): Promise<void> {
    this.flushing.ordered ??= this.drainOrdered(publisher).finally(() => {
      this.flushing.ordered = null;
    });
    this.flushing.independent ??= this.drainIndependent(publisher).finally(() => {
      this.flushing.independent = null;
    });
    return Promise.all([this.flushing.ordered, this.flushing.independent]).then(() => undefined);
  }

  /** The stored rows in order, then the messages kept in memory (stored on the way if the disk takes them now). */
  private async drainOrdered(publisher: Publisher): Promise<void> {
    for (let after = 0; ; ) {
      this.catchUp();
      const rows = this.table.ordered(after);
      if (rows.length > 0) {
        for (const row of rows) {
          const message = this.waiting(row);
          if (message) await this.deliver(message, publisher);
          after = row.id;
        }
        continue;
      }
      const head = this.unstored[0];
      if (!head) return;
      await this.deliver(head, publisher);
    }
  }

  /**
   * One pass over the independent messages, one at a time (a broker that drops the connection for a
   * refused one fails whatever else is in flight too), those that failed least first: a message the
   * broker refuses goes behind the others. Each failure is that message's alone; the first is
   * rethrown at the end so the caller tries again.
   */
  private async drainIndependent(publisher: Publisher): Promise<void> {
    let failure: unknown = null;
    const tried = new Set<number>();
    for (;;) {
      const rows = this.table.independent().filter((row) => !tried.has(row.id));
      if (rows.length === 0) break;
      for (const row of rows) {
        tried.add(row.id);
        const message = this.waiting(row);
        if (!message) continue;
        try {
          await this.deliver(message, publisher);
        } catch (err) {
          if (err instanceof BrokerOffline) throw err;
          failure ??= err;
        }
      }
    }
    if (failure) throw failure;
  }

  /** A row as it stands with what the disk refused to record about it; null when it is done with. */
  private waiting(row: OutboxRow): OutboxMessage | null {
    const note = this.notes.get(row.id);
    if (note && (note.delivered || note.setAsideAt !== null)) return null;
    const { id, topic, payload } = row;
    return { id, topic, payload, qos: row.qos === 1 ? 1 : 0, retain: row.retain === 1, attempts: row.attempts + (note?.failures ?? 0) };
  }

  /** One attempt at one message: forgotten once acknowledged; a failure is counted (see failed()). */
  private async deliver(message: OutboxMessage, publisher: Publisher): Promise<void> {
    if (message.id === null) this.inFlight = message;
    try {
      await publisher.publish(message.topic, message.payload, { qos: message.qos, retain: message.retain });
    } catch (err) {
      if (err instanceof BrokerOffline) throw err;
      this.failed(message, err as Error);
      return;
    } finally {
      if (this.inFlight === message) this.inFlight = null;
    }
    this.delivered(message);
  }

  private delivered(message: OutboxMessage): void {
    if (message.id === null) return this.forgetUnstored(message);
    const id = message.id;
    this.write(() => this.table.remove(id), () => (this.note(id).delivered = true));
  }

  /** Counts a failed delivery: throws to pause delivery, unless it was the message's last chance (then it is set aside). */
  private failed(message: OutboxMessage, err: Error): void {
    const error = err.message;
    const { id } = message;
    message.attempts++;
    if (id !== null) {
      this.write(
        () => this.table.failed(id, error),
        () => {
          const note = this.note(id);
          note.failures++;
          note.error = error;
        },
      );
    }
    if (message.attempts < OUTBOX_MAX_ATTEMPTS) throw err;
    const at = this.deps.now();
    if (id === null) this.forgetUnstored(message);
    else this.write(() => this.table.setAside(id, at), () => (this.note(id).setAsideAt = at));
    this.deps.log.error('outbox: set a message aside after repeated failures; the rest flows', { id, topic: message.topic, error });
    try {
      this.deps.onSetAside?.({ id, topic: message.topic, attempts: message.attempts, error });
    } catch (notifyErr) {
      this.deps.log.error('could not record the set-aside message', { id, error: (notifyErr as Error).message });
    }
  }

  /** Writes `message` to the table, or keeps it in memory behind those kept before when the disk refuses. */
  private store(message: OutboxMessage, independent: boolean): void {
    if (independent || this.unstored.length === 0) {
      try {
        message.id = this.insert(message, independent);
        return this.tookWrite();
      } catch (err) {
        if (independent || this.deps.db.inTransaction) throw err;
        this.diskRefused(err as Error);
      }
    }
    this.unstored.push(message);
    this.unstoredBytes += message.payload.length;
    while (this.unstoredBytes > UNSTORED_LIMIT_BYTES && this.unstored[0] !== this.inFlight) {
      const dropped = this.unstored[0]!;
      this.forgetUnstored(dropped);
      this.deps.log.warn('outbox: the disk is full and too much waits in memory: dropped the oldest message', { topic: dropped.topic });
    }
    this.catchUp();
  }

  private insert(message: OutboxMessage, independent: boolean): number {
    const id = this.table.insert(message, independent, this.deps.now());
    const n = this.table.waiting() + this.setAside();
    if (n > OUTBOX_LIMIT) {
      try {
        this.table.trim(n - OUTBOX_LIMIT);
        this.deps.log.warn('outbox full: dropped the oldest undelivered messages', { dropped: n - OUTBOX_LIMIT });
      } catch (err) {
        this.diskRefused(err as Error); // trimmed with a later message
      }
    }
    return id;
  }

  private forgetUnstored(message: OutboxMessage): void {
    const i = this.unstored.indexOf(message);
    if (i < 0) return;
    this.unstored.splice(i, 1);
    this.unstoredBytes -= message.payload.length;
  }

  private note(id: number): RowAmendment {
    let note = this.notes.get(id);
    if (!note) this.notes.set(id, (note = { delivered: false, failures: 0, error: null, setAsideAt: null }));
    return note;
  }

  /** A table write; when the disk refuses it, `instead` keeps its effect in memory until catchUp() writes it. */
  private write(apply: () => unknown, instead: () => void): void {
    try {
      apply();
    } catch (err) {
      this.diskRefused(err as Error);
      return instead();
    }
    this.tookWrite();
  }

  private diskRefused(err: Error): void {
    this.catchUpTimer ??= setInterval(() => this.catchUp(), CATCH_UP_MS);
    this.catchUpTimer.unref();
    if (this.refusal !== null) return;
    this.refusal = err.message;
    this.deps.log.error('outbox: the disk refused a write; messages wait in memory and are still sent, and are stored once it takes them', {
      error: err.message,
    });
    this.deps.onDiskRefusal?.();
  }

  /** A write went through: the disk has room again, and what waits in memory follows it there. */
  private tookWrite(): void {
    if (this.refusal !== null) this.catchUp(true);
  }

  /**
   * Writes what the disk refused, in order: notes about stored rows, then the messages kept in
   * memory. The refusal ends only with a write that went through (`wrote`): with nothing waiting,
   * the next message tells.
   */
  private catchUp(wrote = false): void {
    if (this.refusal === null) return;
    try {
      for (const [id, note] of this.notes) {
        this.table.amend(id, note);
        this.notes.delete(id);
        wrote = true;
      }
      while (this.unstored.length > 0 && this.unstored[0] !== this.inFlight) {
        const message = this.unstored[0]!;
        message.id = this.insert(message, false);
        this.unstored.shift();
        this.unstoredBytes -= message.payload.length;
        wrote = true;
      }
    } catch {
      return; // still refused: the timer, the next message or the next flush tries again
    }
    if (this.unstored.length === 0 && this.catchUpTimer) {
      clearInterval(this.catchUpTimer);
      this.catchUpTimer = null;
    }
    // The head of the memory queue is on its way: stored or delivered after it.
    if (!wrote || this.unstored.length > 0) return;
    this.refusal = null;
    this.deps.log.info('outbox: the disk takes its writes again');
    this.deps.onDiskRefusal?.();
  }
}

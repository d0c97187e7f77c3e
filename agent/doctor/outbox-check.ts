/** The MQTT outbox: messages the broker refused again and again are set aside, and shown here. */
import { existsSync, statSync } from 'node:fs';
import { databasePath } from '../main.js';
import { openDatabase } from '../store/database.js';
import type { CheckContext, DoctorCheck } from './types.js';

export async function checkOutbox(ctx: CheckContext): Promise<DoctorCheck> {
  const name = 'outbox';
  const file = databasePath(ctx.config);
  if (!existsSync(file)) return { name, ok: true, detail: 'no database yet: nothing waiting' };
  // As root, opening the database could leave -wal/-shm files the agent cannot write (see owner keys).
  if (ctx.probes.uid() === 0 && statSync(file).uid !== 0) {
    return { name, ok: true, warning: true, detail: 'not checked as root', fix: "run doctor as the agent's user: sudo -u doorbell doorbell doctor" };
  }
  const db = openDatabase(file, { readonly: true });
  try {
    const columns = db.prepare("SELECT name FROM pragma_table_info('outbox')").all() as { name: string }[];
    if (!columns.some((c) => c.name === 'set_aside_at')) return { name, ok: true, detail: 'nothing set aside' };
    const waiting = (db.prepare('SELECT count(*) AS n FROM outbox WHERE set_aside_at IS NULL').get() as { n: number }).n;
    const aside = db
      .prepare('SELECT id, topic, last_error AS error FROM outbox WHERE set_aside_at IS NOT NULL ORDER BY id')
      .all() as { id: number; topic: string; error: string | null }[];
    if (aside.length === 0) return { name, ok: true, detail: `${waiting} waiting for the broker, none set aside` };
    const first = aside[0]!;
    return {
      name,
      ok: true,
      warning: true,
      detail:
        `${aside.length} message${aside.length === 1 ? '' : 's'} set aside after the broker refused ${aside.length === 1 ? 'it' : 'them'} ` +
        `(first: #${first.id} to ${JSON.stringify(first.topic)}: ${first.error ?? 'unknown error'}); ${waiting} waiting`,
      fix: 'the rest keeps flowing; these stay in the outbox table of the database and the audit log for inspection (a topic the broker refuses: too many levels, control characters, or an ACL)',
    };
  } finally {
    db.close();
  }
}

/** The one SQLite database every capability keeps its tables in (better-sqlite3 stays behind this file). */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

export interface OpenOptions {
  readonly?: boolean;
}

/**
 * WAL with synchronous=FULL: better-sqlite3's bundled SQLite would default WAL to NORMAL, which can
 * lose the last commits on power loss. Writes happen at event rate, so FULL costs nothing here.
 */
export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  let db: Db | null = null;
  try {
    if (!opts.readonly) mkdirSync(dirname(file), { recursive: true });
    db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    db.pragma('foreign_keys = ON');
    return db;
  } catch (err) {
    db?.close();
    throw new Error(`cannot open the database ${file}: ${(err as Error).message}${hintFor(file)}`, { cause: err });
  }
}

/** SQLite says only "unable to open database file": name the folder and the user that needs access. */
function hintFor(file: string): string {
  const dir = dirname(file);
  const uid = process.getuid?.();
  return (
    ` (${dir} and the database files in it must exist and be writable${uid === undefined ? '' : ` by this user, uid ${uid}`}` +
    `: check with ls -ln ${dir}; the installed agent runs as "doorbell": sudo -u doorbell doorbell …)`
  );
}

/**
 * Applies each capability's migrations in order. Every capability owns its tables and numbers its
 * own steps, so adding a table to one never renumbers another.
 */
export function migrate(db: Db, component: string, steps: readonly string[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_version WHERE component = ?').get(component) as
    | { version: number }
    | undefined;
  const current = row?.version ?? 0;
  if (current > steps.length) {
    throw new Error(
      `database schema for ${component} is version ${current}, newer than this agent knows (${steps.length}); upgrade the agent`,
    );
  }
  const apply = db.transaction(() => {
    for (let v = current; v < steps.length; v++) db.exec(steps[v]!);
    db.prepare(
      'INSERT INTO schema_version (component, version) VALUES (?, ?) ON CONFLICT(component) DO UPDATE SET version = excluded.version',
    ).run(component, steps.length);
  });
  if (current < steps.length) apply();
}

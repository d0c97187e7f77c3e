/** Every query the running store makes, prepared once in start(). */
import type { Db } from './database.js';
import { CLIP_COLUMNS, type ClipRow } from './schema.js';

const NOT_HELD = 'NOT EXISTS (SELECT 1 FROM clip_holds h WHERE h.clip_id = clips.id)';

export function prepareStatements(db: Db) {
  const s = {
    getStoreId: db.prepare<[], { value: string }>("SELECT value FROM store_meta WHERE key = 'store_id'"),
    setStoreId: db.prepare<[string]>(
      "INSERT INTO store_meta (key, value) VALUES ('store_id', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    ),

    insertWriting: db.prepare<[string, number, number, string, string, number, number]>(
      `INSERT INTO clips (id, state, start_ms, end_ms, kind, source, triggered_at, created_at)
       VALUES (?, 'writing', ?, ?, ?, ?, ?, ?)`,
    ),
    isWriting: db.prepare<[string], { id: string }>("SELECT id FROM clips WHERE id = ? AND state = 'writing'"),
    writingIds: db.prepare<[], { id: string }>("SELECT id FROM clips WHERE state = 'writing'"),
    markReady: db.prepare<[number, string, Buffer | null, string]>(
      "UPDATE clips SET state = 'ready', bytes = ?, sha256 = ?, thumbnail = ? WHERE id = ? AND state = 'writing'",
    ),
    deleteWriting: db.prepare<[string]>("DELETE FROM clips WHERE id = ? AND state = 'writing'"),

    getReady: db.prepare<[string], ClipRow>(`SELECT ${CLIP_COLUMNS} FROM clips WHERE id = ? AND state = 'ready'`),
    isReady: db.prepare<[string], { id: string }>("SELECT id FROM clips WHERE id = ? AND state = 'ready'"),
    readyIds: db.prepare<[], { id: string }>("SELECT id FROM clips WHERE state = 'ready'"),
    listBefore: db.prepare<[number, number], ClipRow>(
      `SELECT ${CLIP_COLUMNS} FROM clips WHERE state = 'ready' AND start_ms < ? ORDER BY start_ms DESC LIMIT ?`,
    ),
    overlapping: db.prepare<{ from: number; to: number }, ClipRow>(
      `SELECT ${CLIP_COLUMNS} FROM clips
       WHERE state = 'ready' AND start_ms <= :to AND end_ms >= :from ORDER BY start_ms`,
    ),
    usage: db.prepare<[], { used: number; clips: number; oldest: number | null }>(
      "SELECT COALESCE(SUM(bytes), 0) AS used, COUNT(*) AS clips, MIN(start_ms) AS oldest FROM clips WHERE state = 'ready'",
    ),
    heldUsage: db.prepare<[], { used: number; clips: number }>(
      `SELECT COALESCE(SUM(bytes), 0) AS used, COUNT(*) AS clips FROM clips
       WHERE state = 'ready' AND id IN (SELECT clip_id FROM clip_holds)`,
    ),

    oldestEvictable: db.prepare<[number], ClipRow>(
      `SELECT ${CLIP_COLUMNS} FROM clips WHERE state = 'ready' AND ${NOT_HELD} ORDER BY start_ms LIMIT ?`,
    ),
    expiredEvictable: db.prepare<[number, number], ClipRow>(
      `SELECT ${CLIP_COLUMNS} FROM clips
       WHERE state = 'ready' AND start_ms < ? AND ${NOT_HELD} ORDER BY start_ms LIMIT ?`,
    ),
    deleteReady: db.prepare<[string]>("DELETE FROM clips WHERE id = ? AND state = 'ready'"),
    insertGarbage: db.prepare<[string]>('INSERT OR IGNORE INTO clip_garbage (id) VALUES (?)'),
    garbageIds: db.prepare<[], { id: string }>('SELECT id FROM clip_garbage'),
    deleteGarbage: db.prepare<[string]>('DELETE FROM clip_garbage WHERE id = ?'),

    insertHold: db.prepare<[string, string]>('INSERT OR IGNORE INTO clip_holds (holder, clip_id) VALUES (?, ?)'),
    releaseHolder: db.prepare<[string]>('DELETE FROM clip_holds WHERE holder = ?'),
    heldIds: db.prepare<[], { clip_id: string }>('SELECT DISTINCT clip_id FROM clip_holds'),
    heldBytesWith: db.prepare<[string], { used: number }>(
      `SELECT COALESCE(SUM(bytes), 0) AS used FROM clips
       WHERE state = 'ready' AND (id IN (SELECT clip_id FROM clip_holds) OR id IN (SELECT value FROM json_each(?)))`,
    ),
    holdersOf: db.prepare<[string], { holder: string }>('SELECT holder FROM clip_holds WHERE clip_id = ? ORDER BY holder'),
  };
  return {
    ...s,
    /** Step 1 of the delete procedure: the rows go and the garbage rows appear in one commit. */
    moveToGarbage: db.transaction((ids: readonly string[]) => {
      for (const id of ids) {
        s.deleteReady.run(id);
        s.insertGarbage.run(id);
      }
    }),
    dropGarbage: db.transaction((ids: readonly string[]) => {
      for (const id of ids) s.deleteGarbage.run(id);
    }),
    dropReady: db.transaction((ids: readonly string[]) => {
      for (const id of ids) s.deleteReady.run(id);
    }),
    holdAll: db.transaction((holder: string, ids: readonly string[], check: (id: string) => void) => {
      for (const id of ids) {
        check(id);
        s.insertHold.run(holder, id);
      }
    }),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

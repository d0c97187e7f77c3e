/** The store's tables (component `clips`) and the mapping from a row to a ClipRecord. */
import type { TriggerKind, TriggerSource } from '../events.js';
import { clipPath, type StoreLayout } from './layout.js';
import type { ClipRecord } from './types.js';

export const CLIPS_COMPONENT = 'clips';

/**
 * `clips.state` is `writing` from begin() until commit() has renamed and fsynced the file, then
 * `ready`. The partial indexes keep every hot query on small index pages: thumbnails make table rows
 * large, so nothing that runs per commit or per request scans the table itself.
 */
export const CLIP_MIGRATIONS: readonly string[] = [
  `CREATE TABLE store_meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
   CREATE TABLE clips (
     id TEXT NOT NULL PRIMARY KEY,
     state TEXT NOT NULL CHECK (state IN ('writing', 'ready')),
     start_ms INTEGER NOT NULL,
     end_ms INTEGER NOT NULL CHECK (end_ms >= start_ms),
     kind TEXT NOT NULL,
     source TEXT NOT NULL,
     triggered_at INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     bytes INTEGER CHECK (bytes > 0),
     sha256 TEXT,
     thumbnail BLOB,
     CHECK (state = 'writing' OR (bytes IS NOT NULL AND sha256 IS NOT NULL))
   );
   CREATE INDEX clips_ready_by_start ON clips (start_ms, end_ms, bytes, id) WHERE state = 'ready';
   CREATE INDEX clips_writing ON clips (id) WHERE state = 'writing';
   CREATE TABLE clip_holds (
     holder TEXT NOT NULL,
     clip_id TEXT NOT NULL REFERENCES clips (id) ON DELETE CASCADE,
     PRIMARY KEY (holder, clip_id)
   ) WITHOUT ROWID;
   CREATE INDEX clip_holds_by_clip ON clip_holds (clip_id);
   CREATE TABLE clip_garbage (id TEXT NOT NULL PRIMARY KEY) WITHOUT ROWID;`,
];

/** Every column of a ready row, thumbnail last so the small ones stay in the row's first page. */
export const CLIP_COLUMNS = 'id, start_ms, end_ms, bytes, sha256, kind, source, triggered_at, created_at, thumbnail';

export interface ClipRow {
  id: string;
  start_ms: number;
  end_ms: number;
  bytes: number;
  sha256: string;
  kind: TriggerKind;
  source: TriggerSource;
  triggered_at: number;
  created_at: number;
  thumbnail: Buffer | null;
}

export function toClipRecord(row: ClipRow, layout: StoreLayout): ClipRecord {
  return {
    id: row.id,
    start: row.start_ms,
    end: row.end_ms,
    bytes: row.bytes,
    sha256: row.sha256,
    kind: row.kind,
    source: row.source,
    triggeredAt: row.triggered_at,
    thumbnail: row.thumbnail,
    createdAt: row.created_at,
    path: clipPath(layout, row.id),
  };
}

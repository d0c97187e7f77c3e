/**
 * The owner's notice of a pending request (protocol.md "Notice"), kept within the 256 KiB limit,
 * and the book of notices sent: a notice is signed once and resent unchanged, so the hash a
 * decision binds (`noticeSha256`) stays the one the owner was shown.
 */
import { iso } from '../clock.js';
import { sha256Hex, type Json } from '../envelope/index.js';
import { migrate, type Db } from '../store/database.js';
import type { ClipRecord } from '../store/index.js';
import type { RequestRow } from './request-table.js';

export const MAX_NOTICE_BYTES = 256 * 1024;
/** At about 250 bytes a clip without its thumbnail, this many always fit in a notice. */
export const MAX_NOTICE_CLIPS = 500;
/** Room left for everything but thumbnails; thumbnails are added oldest-first while they fit. */
const THUMBNAIL_BUDGET = MAX_NOTICE_BYTES - 32 * 1024;

/** Scheme, host and path of the upload URL: never its query string, which may hold a presigned secret. */
export function destinationOf(url: string, urlSha256: string): { scheme: string; host: string; path: string; urlSha256: string } {
  const u = new URL(url);
  return { scheme: u.protocol.replace(/:$/, ''), host: u.host, path: u.pathname, urlSha256 };
}

/** The notice's body fields (the owner channel adds `v`, `at` and `seq`). */
export function buildNotice(row: RequestRow, clips: ClipRecord[]): Json & { kind: 'notice' } {
  const r = row.request;
  const notice = {
    kind: 'notice' as const,
    requestId: row.id,
    receivedAt: iso(row.receivedAt),
    requester: {
      name: r.requester.name,
      kind: r.requester.kind,
      ...(r.requester.caseNumber ? { caseNumber: r.requester.caseNumber } : {}),
      ...(r.requester.contact ? { contact: r.requester.contact } : {}),
      // Protocol v2: the signing key and who vouches for it; the name above is only what the requester claims.
      keyId: row.trust.keyId,
      fingerprint: row.trust.fingerprint,
      ...(row.trust.vouchedBy ? { vouchedBy: row.trust.vouchedBy } : {}),
      ...(row.trust.boardIndex !== undefined ? { boardIndex: row.trust.boardIndex } : {}),
    },
    reason: r.reason,
    window: r.window,
    destination: destinationOf(r.upload.url, row.urlSha256),
    receiptTo: r.replyTo ?? null,
    clips: clips.map((c) => ({
      id: c.id,
      start: iso(c.start),
      end: iso(c.end),
      bytes: c.bytes,
      sha256: c.sha256,
      trigger: c.kind,
    })) as Record<string, unknown>[],
    expiresAt: r.expiresAt,
  };
  let size = Buffer.byteLength(JSON.stringify(notice));
  clips.forEach((clip, i) => {
    if (!clip.thumbnail) return;
    const thumbnail = `data:image/jpeg;base64,${clip.thumbnail.toString('base64')}`;
    if (size + thumbnail.length + 16 > THUMBNAIL_BUDGET) return;
    notice.clips[i]!.thumbnail = thumbnail;
    size += thumbnail.length + 16;
  });
  return notice;
}

const MIGRATIONS = [
  `CREATE TABLE owner_notices (request_id TEXT PRIMARY KEY, plaintext BLOB NOT NULL, sha256 TEXT NOT NULL) WITHOUT ROWID`,
];

/** The signed plaintext of each pending request's notice, until the request leaves `pending`. */
export class NoticeBook {
  constructor(private readonly db: Db) {}

  start(): void {
    migrate(this.db, 'owner-notices', MIGRATIONS);
  }

  keep(requestId: string, plaintext: Uint8Array): void {
    this.db
      .prepare('INSERT OR REPLACE INTO owner_notices (request_id, plaintext, sha256) VALUES (?, ?, ?)')
      .run(requestId, Buffer.from(plaintext), sha256Hex(plaintext));
  }

  get(requestId: string): { plaintext: Uint8Array; sha256: string } | undefined {
    const row = this.db.prepare('SELECT plaintext, sha256 FROM owner_notices WHERE request_id = ?').get(requestId) as
      | { plaintext: Buffer; sha256: string }
      | undefined;
    return row && { plaintext: new Uint8Array(row.plaintext), sha256: row.sha256 };
  }

  forget(requestId: string): void {
    this.db.prepare('DELETE FROM owner_notices WHERE request_id = ?').run(requestId);
  }
}

/** The owner's notice of a pending request (PROTOCOL.md "Notice"), kept within the 256 KiB limit. */
import { iso } from '../clock.js';
import type { ClipRecord } from '../store/index.js';
import type { RequestRow } from './request-table.js';

export const MAX_NOTICE_BYTES = 256 * 1024;
/** At about 250 bytes a clip without its thumbnail, this many always fit in a notice. */
export const MAX_NOTICE_CLIPS = 500;
/** Room left for everything but thumbnails; thumbnails are added oldest-first while they fit. */
const THUMBNAIL_BUDGET = MAX_NOTICE_BYTES - 32 * 1024;

export function buildNotice(row: RequestRow, clips: ClipRecord[], host: string): string {
  const r = row.request;
  const notice = {
    v: 1,
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
    destination: { host, urlSha256: row.urlSha256 },
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
  return JSON.stringify(notice);
}

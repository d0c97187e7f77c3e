import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ClipRecord } from '../../agent/store/index.js';
import { buildNotice, MAX_NOTICE_BYTES, MAX_NOTICE_CLIPS } from '../../agent/requests/notice.js';
import type { RequestRow } from '../../agent/requests/index.js';

const T0 = Date.parse('2026-11-22T14:00:00.000Z');

function clip(i: number): ClipRecord {
  return {
    id: `01JD${String(i).padStart(22, '0')}`,
    start: T0 + i * 20_000,
    end: T0 + i * 20_000 + 15_000,
    bytes: 2_412_331,
    sha256: randomBytes(32).toString('hex'),
    kind: 'ring',
    source: 'button',
    triggeredAt: T0 + i * 20_000 + 5000,
    thumbnail: Buffer.concat([Buffer.from([0xff, 0xd8]), randomBytes(24 * 1024 - 2)]),
    createdAt: T0,
    path: `/x/${i}.mp4`,
  };
}

const row = {
  id: 'rfa-1',
  receivedAt: T0,
  urlSha256: 'a'.repeat(64),
  trust: { keyId: '0123456789abcdef', fingerprint: '0123 4567 89ab cdef', trusted: false },
  request: {
    v: 2,
    id: 'rfa-1',
    requester: { name: 'Ünïcödé PD — ☃', kind: 'police', caseNumber: '24-118' },
    reason: '☃'.repeat(2000),
    window: { from: '2026-11-22T14:00:00.000Z', to: '2026-11-23T14:00:00.000Z' },
    upload: { url: 'https://evidence.example/put', expiresAt: '2026-11-29T00:00:00.000Z' },
    expiresAt: '2026-11-25T00:00:00.000Z',
  },
} as unknown as RequestRow;

describe('owner notice', () => {
  it('stays within 256 KiB of UTF-8 for the most clips a request can match, thumbnails added while they fit', () => {
    const clips = Array.from({ length: MAX_NOTICE_CLIPS }, (_, i) => clip(i));
    const text = JSON.stringify(buildNotice(row, clips));
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_NOTICE_BYTES);
    const notice = JSON.parse(text) as { clips: { id: string; thumbnail?: string }[] };
    expect(notice.clips).toHaveLength(MAX_NOTICE_CLIPS);
    expect(notice.clips[0]!.thumbnail).toMatch(/^data:image\/jpeg;base64,/);
    expect(notice.clips.at(-1)!.thumbnail).toBeUndefined();
  });

  it('carries every thumbnail when they fit', () => {
    const notice = buildNotice(row, [clip(0), clip(1), clip(2)]) as unknown as { clips: { thumbnail?: string }[]; destination: unknown };
    expect(notice.clips.every((c) => c.thumbnail)).toBe(true);
  });

  it('shows the whole destination but never the query string of a presigned URL', () => {
    const presigned = { ...row, request: { ...row.request, upload: { ...row.request.upload, url: 'https://evidence.example:8443/put/case-1?X-Amz-Signature=secret#frag' } } };
    const notice = buildNotice(presigned as RequestRow, [clip(0)]);
    expect(notice.destination).toEqual({ scheme: 'https', host: 'evidence.example:8443', path: '/put/case-1', urlSha256: 'a'.repeat(64) });
    expect(JSON.stringify(notice)).not.toContain('secret');
  });
});

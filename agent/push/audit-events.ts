/** Which audit entries are worth a notification: a request now waiting, an upload that ended. */
import type { PushEvent } from './payload.js';

interface Entry {
  type: string;
  at: string;
  [key: string]: unknown;
}

export function pushEventForAudit(entry: Entry): PushEvent | undefined {
  const requestId = typeof entry.requestId === 'string' ? entry.requestId : undefined;
  if (!requestId) return undefined;
  if (entry.type === 'request' && entry.state === 'pending') {
    const r = (entry.requester ?? {}) as { name?: unknown; kind?: unknown };
    return {
      kind: 'request',
      at: entry.at,
      requestId,
      requester: { name: String(r.name ?? ''), kind: String(r.kind ?? '') },
      reason: typeof entry.reason === 'string' ? entry.reason : '',
    };
  }
  if (entry.type === 'upload-result' && entry.ok === true) return { kind: 'upload', at: entry.at, requestId, ok: true };
  // A failed attempt may be retried; only the request closing as failed is the end.
  if (entry.type === 'closed' && entry.state === 'failed') return { kind: 'upload', at: entry.at, requestId, ok: false };
  return undefined;
}

/** Pieces several screens share: requester heading, status line, badges, refused messages. */
import { formatBytes, formatDateTime } from '../format.js';
import type { Refusal } from '../model.js';
import { isRefusal, isTerminal, type RequestState, type RequestStatus } from '../protocol.js';
import { h } from './dom.js';

const KIND_LABELS: Record<string, string> = {
  police: 'Police',
  fire: 'Fire service',
  neighbor: 'Neighbour',
  insurer: 'Insurer',
  owner: 'Owner',
  other: 'Other',
};

export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind;
}

export function kindBadge(kind: string): HTMLElement {
  return h('span', { class: `tag tag--${KIND_LABELS[kind] ? kind : 'other'}` }, kindLabel(kind));
}

const STATE_LABELS: Record<RequestState, string> = {
  pending: 'Waiting for you',
  approved: 'Approved',
  uploading: 'Uploading',
  uploaded: 'Uploaded',
  failed: 'Upload failed',
  denied: 'Denied',
  expired: 'Expired',
  rejected: 'Rejected by the doorbell',
  'no-footage': 'No footage',
  cancelled: 'Cancelled',
};

export function stateLabel(state: RequestState): string {
  return STATE_LABELS[state];
}

export function stateBadge(state: RequestState): HTMLElement {
  const tone = state === 'uploaded' ? 'ok' : state === 'failed' ? 'error' : isTerminal(state) ? 'neutral' : 'active';
  return h('span', { class: `state state--${tone}`, 'data-state': state }, stateLabel(state));
}

/** The live status of a request: state, detail, and the upload progress bar while uploading. */
export function statusPanel(status: RequestStatus | undefined): HTMLElement {
  if (!status) return h('div', { class: 'status', 'data-state': 'unknown' }, h('p', {}, 'Waiting for the doorbell’s status…'));
  const refused = isRefusal(status);
  const progress = status.progress;
  const percent = progress && progress.totalBytes > 0 ? Math.min(100, Math.round((progress.sentBytes / progress.totalBytes) * 100)) : undefined;
  return h(
    'div',
    { class: `status${refused || status.state === 'failed' ? ' status--error' : ''}`, 'data-state': status.state },
    h('p', { class: 'status__line' }, stateBadge(status.state), h('span', { class: 'muted' }, ` ${formatDateTime(status.at)}`)),
    status.detail ? h('p', { class: 'status__detail' }, status.detail) : null,
    status.state === 'uploading' && progress
      ? h(
          'div',
          { class: 'progress' },
          h('progress', { id: `progress-${status.requestId}`, max: progress.totalBytes, value: progress.sentBytes, 'aria-label': 'Upload progress' }),
          h('p', { class: 'muted' }, `${formatBytes(progress.sentBytes)} of ${formatBytes(progress.totalBytes)} sent${percent !== undefined ? ` (${percent} %)` : ''}`),
        )
      : null,
  );
}

/** Why a message was not believed, in the owner's words: honest, without alarm (nothing was acted on). */
export function refusalReason(r: Refusal): string {
  switch (r.reason) {
    case 'unknown-signer':
      return 'not signed by your doorbell (signed by another key)';
    case 'bad-signature':
      return r.movedFrom ? `moved from another topic (your doorbell signed it for ${r.movedFrom})` : 'not signed by your doorbell (the signature does not match)';
    case 'stale':
      return 'an old copy replayed';
    case 'not-sealed-to-us':
      return 'not sealed to this phone';
    case 'too-large':
      return 'too large to come from your doorbell';
    default:
      return `not a message your doorbell sends (${r.reason})`;
  }
}

/** One refused message (or a run of the same kind), as the inbox and the doorbell's events show it. */
export function refusalNote(r: Refusal, tag: 'p' | 'li'): HTMLElement {
  return h(
    tag,
    { class: tag === 'p' ? 'callout callout--warn' : 'event event--refused', role: tag === 'p' ? 'status' : undefined, 'data-refused': r.reason, 'data-at': r.at, ...(r.movedFrom ? { 'data-moved-from': r.movedFrom } : {}) },
    h('span', { class: 'refused__text' }, `A message on the broker was refused: ${refusalReason(r)}. It is not shown, and changes nothing.`),
    h('span', { class: 'muted' }, ` ${r.count > 1 ? `${r.count} times, the last ` : ''}${formatDateTime(r.at)}`),
  );
}

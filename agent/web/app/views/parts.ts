/** Pieces several screens share: requester heading, status line, badges. */
import { formatBytes, formatDateTime } from '../format.js';
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

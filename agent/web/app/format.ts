/** Numbers and times for people. */

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

export function formatDateTime(isoTime: string): string {
  const ms = Date.parse(isoTime);
  return Number.isFinite(ms) ? dateTime.format(ms) : '—';
}

export function formatTime(isoTime: string): string {
  const ms = Date.parse(isoTime);
  return Number.isFinite(ms) ? timeOnly.format(ms) : '—';
}

/** "Nov 22, 2026, 2:00 – 2:30 PM": one date when both ends share it. */
export function formatWindow(from: string, to: string): string {
  const a = Date.parse(from);
  const b = Date.parse(to);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return '—';
  return a <= b ? dateTime.formatRange(a, b) : `${dateTime.format(a)} – ${dateTime.format(b)}`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return hours % 24 ? `${Math.floor(hours / 24)} d ${hours % 24} h` : `${hours / 24} d`;
}

/** "expires in 2 d 3 h" or "expired". */
export function formatCountdown(isoTime: string, now = Date.now()): string {
  const left = Date.parse(isoTime) - now;
  if (!Number.isFinite(left)) return '—';
  return left > 0 ? `expires in ${formatDuration(left)}` : 'expired';
}

export function clipLength(start: string, end: string): string {
  return formatDuration(Date.parse(end) - Date.parse(start));
}

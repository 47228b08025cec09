/** Small formatting helpers: every value reaches the page as text (htm/Preact escape it). */

export const formatTime = (iso: string | null): string => {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
};

export const formatMs = (ms: number | null): string => (ms === null ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`);

/** A symbol beside every status word, so no status is told by colour alone. */
export const STATUS_SYMBOL: Record<string, string> = {
  Active: '●',
  Stopped: '■',
  TooManyErrors: '▲',
  Unknown: '?',
  succeeded: '✓',
  failed: '✗',
  pending: '…',
  held: '‖',
  cancelled: '–',
  unknown: '?',
};

export const STATE_LABEL: Record<string, string> = { Active: 'Active', Stopped: 'Stopped', TooManyErrors: 'Too many errors', Unknown: 'Unknown' };

/** datetime-local input value for a Date, in local time. */
export const toLocalInput = (date: Date): string => {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
};

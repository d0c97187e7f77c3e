/** Store failures sorted by kind, so callers decide by kind and the message says what to do. */
export type StoreErrorKind = 'disk-full' | 'corrupt' | 'not-found' | 'held' | 'io';

export class StoreError extends Error {
  override readonly name = 'StoreError';

  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Maps a Node fs or better-sqlite3 error code to a kind. */
export function errorKindOf(err: unknown): StoreErrorKind {
  if (err instanceof StoreError) return err.kind;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return 'disk-full';
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || code === 'EUCLEAN') return 'corrupt';
  if (code === 'ENOENT') return 'not-found';
  return 'io';
}

export function isMissingFile(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ENOENT';
}

/** The clip store's public surface. */
export { ClipStore, type ClipStoreDeps } from './clip-store.js';
export { errorKindOf, StoreError, type StoreErrorKind } from './errors.js';
export type { StoreIo } from './fsync.js';
export { checkStoreInvariants, readClip, readClips } from './inspect.js';
export type { ClipRecord, EvictReason, NewClip, StoreUsage } from './types.js';

/**
 * Transparency-log building blocks shared by the audit log and the request board, for Node and the
 * browser alike: RFC 6962 Merkle trees and proofs, C2SP checkpoints and C2SP signed notes (Ed25519).
 */
export { leafHash, nodeHash, rootHash, inclusionProof, consistencyProof, verifyInclusion, verifyConsistency, EMPTY_ROOT } from './merkle.js';
export type { LeafSource } from './merkle.js';
export { MemoryTree } from './memory-tree.js';
export { formatCheckpoint, parseCheckpoint } from './checkpoint.js';
export type { Checkpoint } from './checkpoint.js';
export { formatVerifierKey, parseVerifierKey, signNote, openNote, keyHash } from './note.js';
export type { NoteVerifierKey } from './note.js';
export { base64Encode, base64Decode, concatBytes, equalBytes, hex } from './bytes.js';
export { SqliteTree, sqliteTreeSchema } from './sqlite-tree.js';
export type { SqlDatabase } from './sqlite-tree.js';

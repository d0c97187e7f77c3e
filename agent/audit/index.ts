/** Audit capability: the hash-chained append-only log, its signed head, and offline verification. */
export { AuditLog, type AuditHead, type AuditLogDeps, type AuditSigner, type SignedHead } from './audit-log.js';
export { chainHash, GENESIS_HASH } from './chain.js';
export { exportAudit, verifyAuditChain, verifySignedHead, type ChainVerdict } from './verify.js';

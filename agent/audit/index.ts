/** Audit capability: the append-only Merkle log, its signed checkpoints and proofs, and offline verification. */
export { AuditLog, type AuditEntry, type AuditHead, type AuditLogDeps, type AuditSigner } from './audit-log.js';
export { evidenceProofs, type EntryProof, type LogEvidence } from './evidence-proofs.js';
export { chainHash, GENESIS_HASH } from './chain.js';
export { auditOrigin, auditVerifierKey, openCheckpoint, signCheckpoint } from './checkpoints.js';
export { exportAudit, treeOfEntries, verifyAuditChain, verifyExtension, type ChainVerdict, type ExtensionVerdict } from './verify.js';
export { buildReport, OUTCOMES, type Figure, type MonthReport, type Outcome, type TransparencyReport } from './report.js';
export { answerConsistencyAsk, AuditProofService, parseConsistencyAsk, type ConsistencyAnswer, type ConsistencyAsk } from './proof-answers.js';

/** Evidence capability: offline verification of evidence bundles, and export of one to a file. */
export { verifyEvidence, type EvidenceKeys, type EvidenceVerdict } from './verify-evidence.js';

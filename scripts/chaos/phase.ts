/** What each chaos phase reports: what it did, and every violation it found (empty = passed). */
export interface PhaseResult {
  name: string;
  violations: string[];
  counts: Record<string, number>;
  skipped?: string;
}

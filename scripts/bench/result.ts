/** What every benchmark returns: rows for the table, each with its figure, baseline and ratio. */
export interface BenchRow {
  /** What was measured, e.g. "Trigger → MQTT event at a subscriber". */
  benchmark: string;
  /** Which figure: "p50", "CPU (% of one core)", … */
  metric: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
  /** value / baseline.value; the table shows it as "×". */
  ratio?: number;
  note?: string;
  /** The target this figure is held to (issue 15's goal cells) and whether this run met it. */
  goal?: { text: string; met: boolean };
}

export interface BenchResult {
  name: string;
  rows: BenchRow[];
  /** Sentences for the notes under the table: what was run, what was skipped and why. */
  notes: string[];
  /** Raw figures for the JSON file. */
  raw?: Record<string, unknown>;
}

/** Marks a row with its goal; `met` decides from the row. */
export function withGoal(r: BenchRow, text: string, met: (r: BenchRow) => boolean): BenchRow {
  r.goal = { text, met: met(r) };
  return r;
}

export function row(
  benchmark: string,
  metric: string,
  value: number,
  unit: string,
  baseline?: { name: string; value: number },
  note?: string,
): BenchRow {
  const r: BenchRow = { benchmark, metric, value, unit };
  if (baseline) {
    r.baseline = baseline;
    if (baseline.value > 0) r.ratio = value / baseline.value;
  }
  if (note) r.note = note;
  return r;
}

/** Shared by every benchmark: where to put files, and a line of progress on stderr. */
export interface BenchContext {
  workDir: string;
  progress(message: string): void;
}

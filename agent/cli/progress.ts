/**
 * An upload's progress as a person sees it: on a terminal one bar redrawn in place, elsewhere (a
 * log, a pipe) a plain line at each quarter, so a captured output stays short and readable.
 */
import { formatBytes } from './command.js';

export interface ProgressOutput {
  isTTY?: boolean;
  write(text: string): unknown;
}

const WIDTH = 30;

export function progressBar(sent: number, total: number, width = WIDTH): string {
  const fraction = total > 0 ? Math.min(1, sent / total) : 0;
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${formatBytes(sent)} / ${formatBytes(total)}`;
}

export class ProgressBar {
  private drawn = false;
  private lastQuarter = -1;
  private total: number;

  /** `expectedTotal`: what the bar shows before the first report (the approved clips' bytes). */
  constructor(
    private readonly out: ProgressOutput,
    private readonly label: string,
    expectedTotal = 0,
  ) {
    this.total = expectedTotal;
  }

  update(sent: number, total: number): void {
    this.total = total;
    if (this.out.isTTY) {
      this.out.write(`\r${this.label}${progressBar(sent, total)}`);
      this.drawn = true;
      return;
    }
    const quarter = total > 0 ? Math.floor((Math.min(sent, total) / total) * 4) : 0;
    if (quarter <= this.lastQuarter) return;
    this.lastQuarter = quarter;
    this.out.write(`${this.label}${quarter * 25}%  ${formatBytes(sent)} / ${formatBytes(total)}\n`);
  }

  /** The upload finished: the bar shows it full (even an upload too quick for any progress report). */
  complete(): void {
    if (this.total > 0) this.update(this.total, this.total);
    this.end();
  }

  /** Moves past the bar so the next line starts clean. */
  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

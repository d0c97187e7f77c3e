/**
 * Process-tree accounting from /proc: CPU time (each live thread's scheduler runtime in ns, plus the
 * user + system ticks of reaped children), resident memory, and bytes the tree caused to be written
 * to block devices (`write_bytes`, so tmpfs writes such as the pre-roll ring do not count, and
 * SD-card wear does).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const PAGE_SIZE = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;

interface ProcStat {
  pid: number;
  ppid: number;
  /** cutime + cstime: the reaped children's CPU, in ticks. */
  reapedTicks: number;
  rssBytes: number;
}

function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // the process ended between listing and reading: it simply is not in this sample
  }
  // The command name is in parentheses and may hold spaces: fields start after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const num = (i: number): number => Number(rest[i]);
  return { pid, ppid: num(1), reapedTicks: num(13) + num(14), rssBytes: num(21) * PAGE_SIZE };
}

/**
 * The CPU seconds of a process's live threads, from the scheduler's own runtime (ns). utime and
 * stime come in 10 ms ticks: a 60 s window of a process using 0.5 % of a core is 30 of them, and
 * a tick more or less at either end moved a ratio of two such processes by up to 0.1.
 */
function threadsCpuSeconds(pid: number): number {
  let ns = 0;
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0; // gone between listing and reading
  }
  for (const task of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e9;
}

function readWriteBytes(pid: number): number {
  try {
    const m = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // gone between listing and reading
  }
}

/** The root and every live descendant. */
export function processTree(rootPid: number): ProcStat[] {
  const all = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) all.set(stat.pid, stat);
  }
  const tree: ProcStat[] = [];
  const root = all.get(rootPid);
  if (!root) return tree;
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    tree.push(p);
    for (const s of all.values()) if (s.ppid === p.pid) queue.push(s);
  }
  return tree;
}

/** CPU seconds of this process's children that have ended (cutime + cstime): what one-shot jobs cost. */
export function reapedChildrenCpuSeconds(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) / CLK_TCK;
}

/** Live descendants of `rootPid` whose command is `comm` (e.g. ffmpeg). */
export function descendantsNamed(rootPid: number, comm: string): number {
  return processTree(rootPid)
    .slice(1)
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim() === comm;
      } catch {
        return false; // ended meanwhile
      }
    }).length;
}

export interface TreeSample {
  processes: number;
  cpuSeconds: number;
  rssBytes: number;
  writeBytes: number;
}

export function sampleTree(rootPid: number): TreeSample {
  const tree = processTree(rootPid);
  return {
    processes: tree.length,
    // A thread that ends inside a window takes its runtime with it; the contenders' threads live as
    // long as their processes, and ended child processes count through their parent's cutime.
    cpuSeconds: tree.reduce((s, p) => s + threadsCpuSeconds(p.pid) + p.reapedTicks / CLK_TCK, 0),
    rssBytes: tree.reduce((s, p) => s + p.rssBytes, 0),
    writeBytes: tree.reduce((s, p) => s + readWriteBytes(p.pid), 0),
  };
}

export interface TreeUsage {
  wallSeconds: number;
  cpuSeconds: number;
  /** CPU seconds per wall second × 100: 100 % is one core busy. */
  cpuPercent: number;
  rssMeanBytes: number;
  rssPeakBytes: number;
  writeBytes: number;
}

/** Samples a process tree every `everyMs` between start() and stop(). */
export class TreeSampler {
  private timer: NodeJS.Timeout | null = null;
  private first: TreeSample | null = null;
  private last: TreeSample | null = null;
  private startedAt = 0;
  private readonly rss: number[] = [];

  constructor(
    private readonly rootPid: number,
    private readonly everyMs = 1000,
  ) {}

  start(): void {
    this.startedAt = performance.now();
    this.first = this.last = sampleTree(this.rootPid);
    this.timer = setInterval(() => this.tick(), this.everyMs);
  }

  stop(): TreeUsage {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tick();
    const wallSeconds = (performance.now() - this.startedAt) / 1000;
    const first = this.first!;
    const last = this.last!;
    const cpuSeconds = last.cpuSeconds - first.cpuSeconds;
    return {
      wallSeconds,
      cpuSeconds,
      cpuPercent: (cpuSeconds / wallSeconds) * 100,
      rssMeanBytes: this.rss.reduce((a, b) => a + b, 0) / Math.max(1, this.rss.length),
      rssPeakBytes: Math.max(0, ...this.rss),
      writeBytes: last.writeBytes - first.writeBytes,
    };
  }

  private tick(): void {
    const s = sampleTree(this.rootPid);
    if (s.processes === 0) return; // the root has exited: keep the last live sample
    this.last = s;
    this.rss.push(s.rssBytes);
  }
}

/** A process's private memory (`RssAnon`: heap, stacks, malloc), without the pages of its executable and libraries. */
export function privateRssBytes(pid: number): number {
  try {
    const m = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger, silentLogger, type Logger } from '../../agent/log.js';
import {
  segmentFreshness,
  SystemdNotifier,
  Watchdog,
  type HealthCheck,
  type NotifySpawn,
} from '../../agent/systemd/index.js';

/** A fake systemd-notify that records each call's arguments. */
function fakeSpawn(code: number | null = 0): { spawn: NotifySpawn; calls: { command: string; args: string[] }[] } {
  const calls: { command: string; args: string[] }[] = [];
  const spawn: NotifySpawn = async (command, args) => {
    calls.push({ command, args });
    return { code, detail: code === 0 ? '' : 'No such file or directory' };
  };
  return { spawn, calls };
}

function recordingLog(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', sink: { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return Object.assign(log, { lines });
}

const SYSTEMD_ENV = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '60000000', WATCHDOG_PID: '4242' };

describe('SystemdNotifier', () => {
  it('sends READY, WATCHDOG, STOPPING and STATUS through systemd-notify with the agent pid', async () => {
    const { spawn, calls } = fakeSpawn();
    const notifier = new SystemdNotifier({ env: SYSTEMD_ENV, log: silentLogger, spawn, pid: 4242 });
    await notifier.ready();
    await notifier.watchdog();
    await notifier.status('camera stalled\nrestarting');
    await notifier.stopping();
    expect(calls).toEqual([
      { command: 'systemd-notify', args: ['--pid=4242', 'READY=1'] },
      { command: 'systemd-notify', args: ['--pid=4242', 'WATCHDOG=1'] },
      { command: 'systemd-notify', args: ['--pid=4242', 'STATUS=camera stalled restarting'] },
      { command: 'systemd-notify', args: ['--pid=4242', 'STOPPING=1'] },
    ]);
  });

  it('does nothing at all without NOTIFY_SOCKET', async () => {
    const { spawn, calls } = fakeSpawn();
    const notifier = new SystemdNotifier({ env: { WATCHDOG_USEC: '60000000' }, log: silentLogger, spawn });
    await notifier.ready();
    await notifier.watchdog();
    expect(calls).toEqual([]);
    expect(notifier.enabled).toBe(false);
    expect(notifier.watchdogIntervalMs()).toBeNull();
  });

  it('feeds at half of WatchdogSec, and not at all when the watchdog is off or meant for another pid', () => {
    const make = (env: NodeJS.ProcessEnv): SystemdNotifier => new SystemdNotifier({ env, log: silentLogger, pid: 4242 });
    expect(make(SYSTEMD_ENV).watchdogIntervalMs()).toBe(30_000);
    expect(make({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '20000000' }).watchdogIntervalMs()).toBe(10_000);
    expect(make({ NOTIFY_SOCKET: '/run/systemd/notify' }).watchdogIntervalMs()).toBeNull();
    expect(make({ ...SYSTEMD_ENV, WATCHDOG_PID: '1' }).watchdogIntervalMs()).toBeNull();
    expect(make({ ...SYSTEMD_ENV, WATCHDOG_USEC: 'soon' }).watchdogIntervalMs()).toBeNull();
  });

  it('logs a failing systemd-notify once, not at every feed', async () => {
    const log = recordingLog();
    const notifier = new SystemdNotifier({ env: SYSTEMD_ENV, log, spawn: fakeSpawn(null).spawn, pid: 4242 });
    await notifier.watchdog();
    await notifier.watchdog();
    const errors = log.lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ msg: expect.stringContaining('systemd-notify failed'), detail: 'No such file or directory' });
  });
});

describe('Watchdog', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function setup(checks: HealthCheck[]) {
    const sent: string[] = [];
    const notifier = {
      watchdog: async () => void sent.push('WATCHDOG=1'),
      status: async (text: string) => void sent.push(`STATUS=${text}`),
    };
    const log = recordingLog();
    const watchdog = new Watchdog({ notifier, checks, intervalMs: 30_000, maxLagMs: 5_000, log, now: () => Date.now() });
    return { sent, log, watchdog };
  }

  it('feeds at every interval while every check passes', () => {
    const { sent, watchdog } = setup([{ name: 'capture', ok: () => true }]);
    watchdog.start();
    vi.advanceTimersByTime(90_000);
    watchdog.stop();
    vi.advanceTimersByTime(90_000);
    expect(sent).toEqual(['WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1']);
  });

  it('stops feeding while a check fails, says which once, and resumes when it passes again', () => {
    let database: boolean | string = true;
    const { sent, log, watchdog } = setup([
      { name: 'capture', ok: () => true },
      { name: 'database', ok: () => database },
    ]);
    watchdog.start();
    database = 'the store folder /var/lib/doorbell is not writable (EROFS)';
    vi.advanceTimersByTime(90_000);
    database = true;
    vi.advanceTimersByTime(30_000);
    watchdog.stop();
    expect(sent).toEqual([
      'WATCHDOG=1',
      'STATUS=unhealthy: database: the store folder /var/lib/doorbell is not writable (EROFS)',
      'STATUS=running',
      'WATCHDOG=1',
    ]);
    const errors = log.lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ name: 'database', reason: expect.stringContaining('EROFS') });
  });

  it('treats a check that returns false or throws as failing', () => {
    const broken = (): boolean => {
      throw new Error('database is closed');
    };
    expect(setup([{ name: 'event loop', ok: () => false }]).watchdog.firstFailure()).toEqual({ name: 'event loop', reason: 'unhealthy' });
    expect(setup([{ name: 'database', ok: broken }]).watchdog.firstFailure()).toEqual({
      name: 'database',
      reason: 'the check threw: database is closed',
    });
  });

  it('skips a feeding that comes over maxLagMs late (the event loop was blocked or crawls), and no other', () => {
    const { sent, log, watchdog } = setup([{ name: 'capture', ok: () => true }]);
    watchdog.start();
    vi.advanceTimersByTime(30_000);
    // The loop is blocked for 6 s just before the next feeding is due: it fires 6 s late.
    vi.setSystemTime(Date.now() + 6_000);
    vi.advanceTimersByTime(30_000);
    vi.advanceTimersByTime(30_000);
    // 4 s late is within the limit.
    vi.setSystemTime(Date.now() + 4_000);
    vi.advanceTimersByTime(30_000);
    watchdog.stop();
    expect(sent).toEqual([
      'WATCHDOG=1',
      'WATCHDOG=1',
      'STATUS=unhealthy: event loop: the event loop lags 6000 ms (limit 5000 ms)',
      'STATUS=running',
      'WATCHDOG=1',
      'WATCHDOG=1',
    ]);
    expect(log.lines.filter((l) => l.level === 'error')).toMatchObject([{ name: 'event loop' }]);
  });

  it('feeds nothing when systemd has no watchdog for the agent', () => {
    const sent: string[] = [];
    const notifier = { watchdog: async () => void sent.push('WATCHDOG=1'), status: async () => undefined };
    const watchdog = new Watchdog({ notifier, checks: [], intervalMs: null, maxLagMs: 5_000, log: silentLogger });
    watchdog.start();
    vi.advanceTimersByTime(600_000);
    expect(sent).toEqual([]);
  });
});

describe('health checks', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('segment freshness: fails when the newest segment is older than the limit, with a grace after start', () => {
    let now = 1_000_000;
    let last: number | null = null;
    const check = segmentFreshness({ lastSegmentAt: () => last, maxAgeMs: 60_000, startedAt: now, now: () => now });
    expect(check.ok()).toBe(true);
    now += 61_000;
    expect(check.ok()).toBe('no video segment since capture started 61 s ago');
    last = now - 1_000;
    expect(check.ok()).toBe(true);
    now += 90_000;
    expect(check.ok()).toBe('no new video segment for 91 s (limit 60 s)');
  });
});

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { openDatabase } from '../../agent/store/database.js';
import { databaseWritable, SystemdNotifier } from '../../agent/systemd/index.js';

const UNIT = 'systemd/doorbell.service';
/** Measured with systemd 252 (Debian 12); loosening any directive raises it. */
const MAX_EXPOSURE = 1.8;

const temp = mkdtempSync(join(tmpdir(), 'systemd-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** The unit as installed, with ExecStart pointing at this node when /usr/bin/node is absent (verify checks it exists). */
function unitForVerify(): string {
  let text = readFileSync(UNIT, 'utf8');
  if (!existsSync('/usr/bin/node')) text = text.replace('/usr/bin/node', process.execPath);
  const dir = join(temp, 'unit');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'doorbell.service'), text);
  return join(dir, 'doorbell.service');
}

/** Directive values of the unit file (repeated keys collected in order). */
function directives(): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of readFileSync(UNIT, 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) map.set(m[1]!, [...(map.get(m[1]!) ?? []), m[2]!]);
  }
  return map;
}

describe('the systemd unit', () => {
  it.skipIf(!has('systemd-analyze'))('passes systemd-analyze verify without a single warning', () => {
    const result = spawnSync('systemd-analyze', ['verify', unitForVerify()], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.skipIf(!has('systemd-analyze'))(`has an exposure score of at most ${MAX_EXPOSURE}`, () => {
    const result = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', UNIT], { encoding: 'utf8' });
    const m = /Overall exposure level for doorbell\.service: (\d+\.\d+)/.exec(result.stdout);
    expect(m, result.stdout + result.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(MAX_EXPOSURE);
  });

  it('is a watched notify service that node can run, with only GPIO and camera devices', () => {
    const d = directives();
    expect(d.get('Type')).toEqual(['notify']);
    expect(d.get('NotifyAccess')).toEqual(['all']);
    expect(d.get('WatchdogSec')).toEqual(['60']);
    expect(d.get('ExecStart')).toEqual([
      '/usr/bin/node --max-semi-space-size=1 --optimize-for-size /opt/doorbell/dist/agent/cli.js run --config /etc/doorbell/agent.yaml',
    ]);
    expect(d.get('DevicePolicy')).toEqual(['closed']);
    expect(d.get('DeviceAllow')).toEqual(['char-gpiochip rw', 'char-video4linux rw', 'char-media rw', 'char-dma_heap rw']);
    expect(d.get('CapabilityBoundingSet')).toEqual(['']);
    // V8's JIT needs writable+executable memory; the namespace would hide the gpio and video groups.
    expect(d.has('MemoryDenyWriteExecute')).toBe(false);
    expect(d.has('PrivateUsers')).toBe(false);
  });
});

describe('sysusers.d and tmpfiles.d', () => {
  it.skipIf(!has('systemd-sysusers') || !has('systemd-tmpfiles'))(
    'create the doorbell user in the gpio and video groups, and a config folder only it can read',
    () => {
      const root = join(temp, 'root');
      mkdirSync(join(root, 'etc'), { recursive: true });
      const sysusers = spawnSync('systemd-sysusers', [`--root=${root}`, '-'], { input: readFileSync('systemd/doorbell.sysusers.conf') });
      expect(sysusers.status, sysusers.stderr.toString()).toBe(0);
      const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
      const group = readFileSync(join(root, 'etc/group'), 'utf8');
      const user = /^doorbell:x:(\d+):(\d+):[^:]*:\/var\/lib\/doorbell:(\S+)$/m.exec(passwd);
      expect(user?.[3]).toMatch(/nologin$/);
      expect(group).toMatch(/^gpio:x:\d+:doorbell$/m);
      expect(group).toMatch(/^video:x:\d+:doorbell$/m);

      const tmpfiles = spawnSync('systemd-tmpfiles', [`--root=${root}`, '--create', '-'], { input: readFileSync('systemd/doorbell.tmpfiles.conf') });
      expect(tmpfiles.status, tmpfiles.stderr.toString()).toBe(0);
      const etc = statSync(join(root, 'etc/doorbell'));
      expect(etc.mode & 0o777).toBe(0o750);
      expect(etc.gid).toBe(Number(user![2]));
    },
  );
});

describe('sd_notify through the real systemd-notify', () => {
  const listener = `
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4 * 8))
    # systemd-notify waits until its barrier fd is closed, as systemd does once it has read the message.
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % 4])
            for fd in fds:
                os.close(fd)
    print(msg.decode().replace("\\n", "|"), flush=True)
`;
  let child: ChildProcess | null = null;
  afterAll(() => child?.kill());

  it.skipIf(!has('systemd-notify') || !has('python3'))('delivers READY=1 and WATCHDOG=1 with the agent pid to NOTIFY_SOCKET', async () => {
    const socketPath = join(temp, 'notify.sock');
    child = spawn('python3', ['-c', listener, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    const waitFor = (match: (line: string) => boolean): Promise<string> =>
      new Promise((resolve, reject) => {
        const found = lines.find(match);
        if (found) return resolve(found);
        const onData = (): void => {
          const hit = lines.find(match);
          if (hit) {
            child!.stdout!.off('data', onData);
            resolve(hit);
          }
        };
        child!.stdout!.on('data', onData);
        child!.once('exit', (code) => reject(new Error(`listener exited with ${code}`)));
      });
    child.stdout!.setEncoding('utf8').on('data', (text: string) => lines.push(...text.split('\n').filter(Boolean)));
    await waitFor((l) => l === 'listening');

    const notifier = new SystemdNotifier({ env: { ...process.env, NOTIFY_SOCKET: socketPath }, log: silentLogger, pid: 4242 });
    await notifier.ready();
    await notifier.watchdog();
    expect(await waitFor((l) => l.includes('READY=1'))).toBe('MAINPID=4242|READY=1');
    expect(await waitFor((l) => l.includes('WATCHDOG=1'))).toBe('MAINPID=4242|WATCHDOG=1');
  });
});

describe('the database health check', () => {
  it('passes on a writable database, and while another connection holds the write lock', () => {
    const dir = join(temp, 'db-ok');
    const db = openDatabase(join(dir, 'doorbell.db'));
    const other = openDatabase(join(dir, 'doorbell.db'));
    try {
      const check = databaseWritable(db, dir);
      expect(check.ok()).toBe(true);
      other.exec('BEGIN IMMEDIATE');
      expect(check.ok()).toBe(true);
      other.exec('ROLLBACK');
      // Its own busy timeout is back afterwards.
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    } finally {
      other.close();
      db.close();
    }
  });

  it('fails on a connection stuck in a transaction, and on a closed database', () => {
    const dir = join(temp, 'db-stuck');
    const db = openDatabase(join(dir, 'doorbell.db'));
    const check = databaseWritable(db, dir);
    db.exec('BEGIN');
    expect(check.ok()).toMatch(/^cannot take the database write lock: cannot start a transaction within a transaction/);
    db.exec('ROLLBACK');
    db.close();
    expect(check.ok()).toBe('the database is closed');
  });

  it('fails when the store folder is gone', () => {
    const dir = join(temp, 'db-gone');
    const db = openDatabase(join(dir, 'doorbell.db'));
    try {
      expect(databaseWritable(db, join(dir, 'missing')).ok()).toMatch(/^the store folder .*missing is not writable \(ENOENT\)$/);
    } finally {
      db.close();
    }
  });
});

import { execFile, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';

const run = promisify(execFile);
const CLI = new URL('../../dist/agent/cli.js', import.meta.url).pathname;

async function doorbell(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, DOORBELL_CONFIG: '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('doorbell CLI against a running agent', () => {
  let t: TestAgent;
  let config: string;
  const out = mkdtempSync(join(tmpdir(), 'cli-out-'));

  beforeAll(async () => {
    t = await startTestAgent();
    config = t.writeCliConfig(join(t.dir, 'agent.yaml'));
  });
  afterAll(async () => {
    await t.dispose();
    rmSync(out, { recursive: true, force: true });
  });

  it('rings through the control socket and lists the clip as stable JSON', async () => {
    const ringing = new Promise<string>((resolve) => t.agent.once('trigger', ({ clipId }) => resolve(clipId)));
    const sim = await doorbell(['sim', 'ring', '--config', config]);
    expect(sim).toMatchObject({ code: 0, stdout: 'simulated ring\n' });
    const clipId = await ringing;
    await new Promise<void>((resolve) => t.agent.on('clip-ready', (c) => c.id === clipId && resolve()));

    const ls = await doorbell(['clips', 'ls', '--json', '--config', config]);
    expect(ls.code).toBe(0);
    const clips = JSON.parse(ls.stdout) as Record<string, unknown>[];
    expect(clips).toHaveLength(1);
    expect(Object.keys(clips[0]!).sort()).toEqual(
      ['bytes', 'end', 'id', 'path', 'seconds', 'sha256', 'source', 'start', 'trigger', 'triggeredAt'].sort(),
    );
    expect(clips[0]).toMatchObject({ id: clipId, trigger: 'ring', source: 'button' });

    const exported = await doorbell(['clips', 'export', clipId, `${out}/`, '--config', config]);
    expect(exported.code).toBe(0);
    const copy = readFileSync(join(out, `${clipId}.mp4`));
    expect(createHash('sha256').update(copy).digest('hex')).toBe(clips[0]!.sha256);

    // An existing file is never overwritten silently; --force does it.
    writeFileSync(join(out, 'mine.mp4'), 'keep me');
    const refused = await doorbell(['clips', 'export', clipId, join(out, 'mine.mp4'), '--config', config]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${join(out, 'mine.mp4')} exists already: pass --force`);
    expect(readFileSync(join(out, 'mine.mp4'), 'utf8')).toBe('keep me');
    const forced = await doorbell(['clips', 'export', clipId, join(out, 'mine.mp4'), '--force', '--json', '--config', config]);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toEqual({ id: clipId, path: join(out, 'mine.mp4'), bytes: clips[0]!.bytes, sha256: clips[0]!.sha256 });
    // A missing folder is named, not a raw ENOENT.
    const missing = await doorbell(['clips', 'export', clipId, join(out, 'nope', 'x.mp4'), '--config', config]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`the folder ${join(out, 'nope')} does not exist`);

    // A reader that stops early (`| head -1`) ends the output quietly, without a stack trace.
    const piped = await run('/bin/sh', ['-c', `"${process.execPath}" "${CLI}" clips ls --config "${config}" | head -1`]);
    expect(piped.stdout.split('\n')[0]).toContain(clipId);
    expect(piped.stderr).toBe('');
    const gone = spawn(process.execPath, [CLI, 'clips', 'ls', '--json', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    gone.stdout.destroy(); // the reader is gone before the first byte
    let stderr = '';
    gone.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => gone.once('exit', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('says clearly when no agent is running', async () => {
    const other = join(out, 'nobody.yaml');
    writeFileSync(other, stringify({ runtime: { dir: join(out, 'no-agent') }, storage: { dir: join(out, 'no-store') } }));
    const sim = await doorbell(['sim', 'ring', '--config', other]);
    expect(sim.code).toBe(1);
    expect(sim.stderr).toMatch(/no agent is running/);
  });
});

describe('doorbell config check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists every problem with its path and exits 1', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'device:\n  id: "no spaces allowed"\nrecord:\n  preRollSecond: 3\n');
    const result = await doorbell(['config', 'check', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('device.id:');
    expect(result.stderr).toContain('record.preRollSecond: unknown key');
  });

  it('accepts a good file', async () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, 'device:\n  id: porch\n');
    const result = await doorbell(['config', 'check', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ok');
  });

  it('prints each config error once (demo --config)', async () => {
    const file = join(dir, 'bad-demo.yaml');
    writeFileSync(file, 'record:\n  preRollSecond: 3\n');
    const result = await doorbell(['demo', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr.split('record.preRollSecond: unknown key').length - 1).toBe(1);
  });

  it('refuses an unknown command with the usage, also one named like a property of every object', async () => {
    for (const name of ['frobnicate', 'constructor', '__proto__']) {
      const result = await doorbell([name]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`unknown command "${name}"`);
      expect(result.stderr).toContain('usage:');
    }
  });
});

describe('doorbell CLI manners', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-manners-'));
  const config = join(dir, 'doorbell.yaml');
  writeFileSync(config, stringify({ runtime: { dir: join(dir, 'run') }, storage: { dir: join(dir, 'data') } }));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--help for every command, --version, and exit 2 with the help on a wrong command line', async () => {
    for (const name of ['clips', 'owner', 'config']) {
      const help = await doorbell([name, '--help']);
      expect(help).toMatchObject({ code: 0, stderr: '' });
      expect(help.stdout).toContain(`usage: doorbell ${name}`);
      expect(help.stdout).toContain('Exit codes: 0 ok, 1 failed');
    }
    const version = await doorbell(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+/);
    const wrong = await doorbell(['clips', '--bogus']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("Unknown option '--bogus'");
    expect(wrong.stderr).toContain('usage: doorbell clips');
    expect(wrong.stderr).not.toMatch(/at .*\.js:\d+/);
    const missing = await doorbell(['clips', 'show', '--config', config]);
    expect(missing.code).toBe(2);
  });

  it('takes owner keys that start with "-" in both option forms', async () => {
    const generated = await doorbell(['owner', 'keygen', '--out', join(dir, 'seal.key'), '--json']);
    const seal = (JSON.parse(generated.stdout) as { sealingRecipient: string }).sealingRecipient;
    const keys: string[] = [];
    while (keys.length < 2) {
      const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
      const b64 = raw.toString('base64url');
      if (b64.startsWith('-')) keys.push(b64);
    }
    const a = await doorbell(['owner', 'add', '--name', 'Dash A', '--key', keys[0]!, '--seal', seal, '--config', config, '--json']);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ name: 'Dash A', publicKey: keys[0] });
    const b = await doorbell(['owner', 'add', '--name', 'Dash B', `--key=${keys[1]}`, '--seal', seal, '--config', config]);
    expect(b.code).toBe(0);
    const list = JSON.parse((await doorbell(['owner', 'list', '--json', '--config', config])).stdout) as { owners: { publicKey: string }[] };
    expect(list.owners.map((k) => k.publicKey).sort()).toEqual([...keys].sort());
  });

  it('owner keygen writes outside the checkout by default', async () => {
    const home = join(dir, 'home');
    const { stdout } = await run(process.execPath, [CLI, 'owner', 'keygen', '--json'], {
      env: { ...process.env, XDG_CONFIG_HOME: join(home, '.config'), DOORBELL_CONFIG: '' },
      cwd: dir,
    });
    const { keyFile } = JSON.parse(stdout) as { keyFile: string };
    expect(keyFile).toBe(join(home, '.config', 'doorbell', 'owner.key'));
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'owner.key'))).toBe(false);
  });

  it.skipIf(process.getuid?.() !== 0)('an unwritable store names the folder and how to fix it', async () => {
    // Root may write anywhere: run as nobody against a store that belongs to root.
    const store = join(dir, 'root-store');
    mkdirSync(store, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const cfg = join(dir, 'root-store.yaml');
    writeFileSync(cfg, stringify({ runtime: { dir: join(dir, 'run-nobody') }, storage: { dir: store } }));
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'owner', 'add', '--name', 'x', '--key', 'AAAA', '--seal', 'age1x', '--config', cfg], { uid: 65534, gid: 65534 }, (err, _o, stderr) =>
        resolve({ code: (err as { code?: number } | null)?.code ?? 0, stderr }),
      );
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot open the database ${join(store, 'doorbell.db')}`);
    expect(result.stderr).toContain(`ls -ln ${store}`);
  });
});

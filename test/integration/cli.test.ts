import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  it('refuses an unknown command with the usage', async () => {
    const result = await doorbell(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage:');
  });
});

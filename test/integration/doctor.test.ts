import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { doctor } from '../../agent/cli/doctor.js';
import { ControlServer } from '../../agent/control/index.js';
import { silentLogger } from '../../agent/log.js';
import type { DoctorReport } from '../../agent/doctor/index.js';
import { freePort } from '../helpers/ports.js';

const temp = mkdtempSync(join(tmpdir(), 'doctor-cli-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** Runs `doorbell doctor` in this process and captures what it prints. */
async function runDoctorCli(flags: Record<string, string | boolean>): Promise<{ code: number; out: string }> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const code = await doctor.run([], flags);
  vi.restoreAllMocks();
  return { code, out };
}

describe('doorbell doctor', () => {
  it('exits 1 and names the broker when nothing listens at the configured broker', async () => {
    const store = join(temp, 'store');
    mkdirSync(store);
    const port = await freePort();
    const config = join(temp, 'agent.yaml');
    writeFileSync(
      config,
      [
        'storage:',
        `  dir: ${store}`,
        'runtime:',
        `  dir: ${join(temp, 'run')}`,
        'camera:',
        '  synthetic: { width: 320, height: 240, fps: 5 }',
        'mqtt:',
        `  url: mqtt://doorbell:s3cret@127.0.0.1:${port}`,
      ].join('\n'),
    );

    const json = await runDoctorCli({ config, json: true });
    expect(json.code).toBe(1);
    const report = JSON.parse(json.out) as DoctorReport;
    expect(report.ok).toBe(false);
    const byName = new Map(report.checks.map((c) => [c.name, c]));
    // Real ffmpeg recorded a real frame; the temp store took a probe file.
    expect(byName.get('ffmpeg')).toMatchObject({ ok: true });
    expect(byName.get('camera')).toMatchObject({ ok: true, detail: expect.stringMatching(/^synthetic: recorded a frame \(\d+ bytes\)$/) });
    expect(byName.get('store writable')).toMatchObject({ ok: true });
    expect(byName.get('broker')).toMatchObject({
      ok: false,
      detail: `cannot connect to mqtt://***@127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
      fix: expect.stringContaining(`nothing listens at 127.0.0.1:${port}`),
    });
    expect(json.out).not.toContain('s3cret');

    const table = await runDoctorCli({ config });
    expect(table.code).toBe(1);
    expect(table.out).toMatch(/^✗ broker +cannot connect/m);
    expect(table.out).toMatch(/^✓ camera +synthetic: recorded a frame/m);
  });

  it("asks a running agent about the camera over its control socket instead of opening the camera", async () => {
    const runtime = join(temp, 'run-agent');
    const config = join(temp, 'agent-running.yaml');
    writeFileSync(config, ['storage:', `  dir: ${join(temp, 'store')}`, 'runtime:', `  dir: ${runtime}`].join('\n'));
    const server = new ControlServer({
      socketPath: join(runtime, 'control.sock'),
      log: silentLogger,
      handlers: { status: () => ({ camera: { ok: false, since: 0, restarts: 3, lastSegmentAt: null, lastGap: null, detail: 'camera stalled' } }) },
    });
    await server.start();
    try {
      const { out } = await runDoctorCli({ config, json: true });
      const camera = (JSON.parse(out) as DoctorReport).checks.find((c) => c.name === 'camera');
      expect(camera).toMatchObject({ ok: false, detail: 'synthetic: the running agent gets no video: camera stalled (newest segment none yet, 3 ffmpeg restarts)' });
    } finally {
      await server.stop();
    }
  });
});

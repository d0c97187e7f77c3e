import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig, parseConfigText } from '../../agent/config.js';

const dir = mkdtempSync(join(tmpdir(), 'config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected the config to be refused');
}

describe('config', () => {
  it('works with no file at all, with the documented defaults', () => {
    const c = parseConfig({}, 'defaults', {});
    expect(c.device.id).toBe('frontdoor');
    expect(c.record).toMatchObject({ preRollSeconds: 5, postRollSeconds: 10, maxClipSeconds: 120 });
    expect(c.mqtt.prefix).toBe('doorbell');
    expect(c.mqtt.embedded).toEqual({ host: '127.0.0.1', port: 1884, wsPort: 8884 });
    expect(c.gpio.backend).toBe('simulated');
    expect(c.gpio.button?.pin).toBe(17);
    expect(c.storage.dir).toMatch(/\.doorbell$/);
  });

  it('takes systemd directories from the environment', () => {
    const c = parseConfig({}, 'defaults', { STATE_DIRECTORY: '/var/lib/doorbell', RUNTIME_DIRECTORY: '/run/doorbell' });
    expect(c.storage.dir).toBe('/var/lib/doorbell');
    expect(c.runtime.dir).toBe('/run/doorbell');
  });

  it('reports every error at once, each with its path and what was expected', () => {
    const problems = problemsOf(
      [
        'device:',
        '  id: "bad id!"',
        'record:',
        '  preRollSeconds: -1',
        '  postRollSeconds: "ten"',
        'gpio:',
        '  backend: serial',
        'storage:',
        '  maxBytes: 2 gallons',
      ].join('\n'),
    );
    expect(problems).toHaveLength(5);
    expect(problems.find((p) => p.startsWith('device.id:'))).toMatch(/identifier/);
    expect(problems.find((p) => p.startsWith('record.preRollSeconds:'))).toMatch(/>=\s*0|too small/i);
    expect(problems.find((p) => p.startsWith('record.postRollSeconds:'))).toMatch(/number/);
    expect(problems.find((p) => p.startsWith('gpio.backend:'))).toMatch(/simulated/);
    expect(problems.find((p) => p.startsWith('storage.maxBytes:'))).toMatch(/byte size/);
  });

  it('refuses unknown keys, at any depth', () => {
    const problems = problemsOf('recrod:\n  preRollSeconds: 3\nmqtt:\n  prefx: x\n');
    expect(problems).toContain('recrod: unknown key');
    expect(problems).toContain('mqtt.prefx: unknown key');
  });

  it('accepts byte sizes with units and a null sensor', () => {
    const c = parseConfigText('storage:\n  maxBytes: 500MiB\ngpio:\n  pir: null\n', 't', {});
    expect(c.storage.maxBytes).toBe(500 * 1024 * 1024);
    expect(c.gpio.pir).toBeNull();
  });

  it('reports YAML syntax errors with their line', () => {
    expect(problemsOf('device:\n  id: [unclosed\n')[0]).toMatch(/line \d+/);
    expect(problemsOf('a: 1\na: 2\n')[0]).toMatch(/line 2/);
  });

  it('names the file that cannot be read', () => {
    expect(() => loadConfig(join(dir, 'missing.yaml'), {})).toThrow(/missing\.yaml.*cannot read/s);
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'device:\n  id: porch\n');
    expect(loadConfig(file, {}).device.id).toBe('porch');
  });
});

describe('config cross-checks', () => {
  it('refuses a pre-roll and post-roll that do not fit in the longest clip', () => {
    expect(problemsOf('record:\n  preRollSeconds: 60\n  postRollSeconds: 600\n  maxClipSeconds: 120\n')).toEqual([
      'record.maxClipSeconds: expected preRollSeconds + postRollSeconds to be at most maxClipSeconds',
    ]);
  });
});

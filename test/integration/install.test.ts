import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type * as z from '../../agent/zod.js';
import { configSchema, parseConfig, parseConfigText } from '../../agent/config.js';

const temp = mkdtempSync(join(tmpdir(), 'install-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

const SCRIPTS = ['scripts/install.sh', 'scripts/uninstall.sh'];

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

let sources = 0;
/**
 * A checkout as the installer expects it: the real scripts, units, template and package files, and
 * a stand-in for the built dist/ (the build itself is not what is tested here).
 */
function checkout(withDist = true): string {
  const src = join(temp, `src${sources++}`);
  for (const dir of ['scripts/lib', 'systemd', 'dist/agent']) mkdirSync(join(src, dir), { recursive: true });
  for (const file of [...SCRIPTS, 'scripts/lib/steps.sh', 'scripts/agent.example.yaml', 'package.json', 'package-lock.json']) {
    copyFileSync(file, join(src, file));
  }
  for (const file of readdirSync('systemd')) copyFileSync(join('systemd', file), join(src, 'systemd', file));
  for (const script of SCRIPTS) chmodSync(join(src, script), 0o755);
  if (withDist) writeFileSync(join(src, 'dist/agent/cli.js'), '// the built agent\n');
  return src;
}

function sh(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): SpawnSyncReturns<string> {
  return spawnSync('bash', [script, ...args], { encoding: 'utf8', env });
}

/** Every path under root with its permission bits, e.g. `etc/doorbell/agent.yaml 640`. */
function tree(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const s = statSync(path);
      out.push(`${relative(root, path)} ${(s.mode & 0o777).toString(8)}`);
      if (s.isDirectory()) walk(path);
    }
  };
  walk(root);
  return out;
}

describe('install.sh and uninstall.sh', () => {
  it.skipIf(!has('shellcheck'))('are shellcheck-clean', () => {
    const result = spawnSync('shellcheck', ['-x', ...SCRIPTS, 'scripts/lib/steps.sh'], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('installs into a prefix with the right modes, prints the system steps, and keeps a changed config', () => {
    const src = checkout();
    const root = join(temp, 'root-install');
    const first = sh(join(src, 'scripts/install.sh'), ['--prefix', root, '--skip-npm']);
    expect(first.stderr.replace(/^npm warn.*\n/gm, '')).toBe('');
    expect(first.status).toBe(0);

    expect(tree(root)).toEqual(
      expect.arrayContaining([
        'etc/doorbell 750',
        'etc/doorbell/agent.yaml 640',
        'etc/doorbell/setup-code 600',
        'opt/doorbell/dist/agent/cli.js 644',
        'opt/doorbell/package-lock.json 644',
        'opt/doorbell/package.json 644',
        'opt/doorbell/systemd/doorbell.service 644',
        'usr/lib/systemd/system/doorbell.service 644',
        'usr/lib/sysusers.d/doorbell.conf 644',
        'usr/lib/tmpfiles.d/doorbell.conf 644',
        'usr/local/bin/doorbell 755',
      ]),
    );
    expect(readFileSync(join(root, 'etc/doorbell/agent.yaml'), 'utf8')).toBe(readFileSync('scripts/agent.example.yaml', 'utf8'));
    // The setup code is printed once, grouped, and kept (root-only, above) for systemd to hand to the agent.
    const shown = /Setup code: (\d{4} \d{4} \d{4} \d{4})/.exec(first.stdout)?.[1];
    expect(shown).toBeDefined();
    expect(readFileSync(join(root, 'etc/doorbell/setup-code'), 'utf8')).toBe(`${shown!.replace(/ /g, '')}\n`);
    expect(readFileSync('systemd/doorbell.service', 'utf8')).toContain('LoadCredential=setup-code:/etc/doorbell/setup-code');
    expect(readFileSync(join(root, 'usr/lib/systemd/system/doorbell.service'), 'utf8')).toBe(readFileSync('systemd/doorbell.service', 'utf8'));
    // The installed package.json must not try to build TypeScript during npm ci.
    const pkg = JSON.parse(readFileSync(join(root, 'opt/doorbell/package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.prepare).toBeUndefined();
    expect(readFileSync(join(root, 'usr/local/bin/doorbell'), 'utf8')).toMatch(
      /^DOORBELL_CONFIG="\$\{DOORBELL_CONFIG:-\/etc\/doorbell\/agent\.yaml\}" exec \S+ \/opt\/doorbell\/dist\/agent\/cli\.js "\$@"$/m,
    );
    // What touches the machine itself is printed, not run.
    const systemSteps = [
      'systemd-sysusers /usr/lib/sysusers.d/doorbell.conf',
      'chown root:doorbell /etc/doorbell/agent.yaml',
      'systemctl daemon-reload',
      'systemctl enable doorbell.service',
      'systemctl restart doorbell.service',
      'runuser -u doorbell -- /usr/local/bin/doorbell doctor',
    ];
    for (const step of systemSteps) {
      expect(first.stdout).toContain(`+ ${step}   # not run with --prefix`);
    }

    // The owner edits the config; an older version left a file in dist.
    const edited = 'device:\n  id: backdoor\n';
    writeFileSync(join(root, 'etc/doorbell/agent.yaml'), edited);
    writeFileSync(join(root, 'opt/doorbell/dist/agent/removed-module.js'), '');
    const before = tree(root);
    const second = sh(join(src, 'scripts/install.sh'), ['--prefix', root, '--skip-npm']);
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('keeping your');
    expect(second.stdout).toContain('keeping the setup code');
    expect(second.stdout).not.toContain(shown!);
    expect(readFileSync(join(root, 'etc/doorbell/agent.yaml'), 'utf8')).toBe(edited);
    expect(tree(root)).toEqual(before.filter((line) => !line.startsWith('opt/doorbell/dist/agent/removed-module.js')));
  });

  it('--dry-run prints every step and changes nothing', () => {
    const src = checkout();
    const root = join(temp, 'root-dry');
    const result = sh(join(src, 'scripts/install.sh'), ['--dry-run', '--prefix', root]);
    expect(result.status).toBe(0);
    expect(existsSync(root)).toBe(false);
    expect(result.stdout).toContain(`+ install -m 0640 ${src}/scripts/agent.example.yaml ${root}/etc/doorbell/agent.yaml`);
    expect(result.stdout).toContain(`+ npm ci --omit=dev --no-audit --no-fund --prefix ${root}/opt/doorbell`);
    expect(result.stdout).toContain('+ systemctl restart doorbell.service');
    expect(result.stdout).toContain(`+ write ${root}/etc/doorbell/setup-code (mode 0600, root only)`);
    expect(result.stdout).not.toMatch(/Setup code: \d/);
    expect(result.stdout).not.toContain('# not run with --prefix');
  });

  it('points the service at a Node.js outside /usr/bin with a drop-in that keeps the unit’s node flags', () => {
    const bin = join(temp, 'node-elsewhere');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'node'), `#!/bin/sh\nexec ${process.execPath} "$@"\n`);
    chmodSync(join(bin, 'node'), 0o755);
    const root = join(temp, 'root-node-elsewhere');
    const result = sh(join(checkout(), 'scripts/install.sh'), ['--prefix', root, '--skip-npm'], { ...process.env, PATH: `${bin}:${process.env.PATH}` });
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(join(root, 'usr/lib/systemd/system/doorbell.service.d/10-node.conf'), 'utf8')).toContain(
      `ExecStart=\nExecStart=${bin}/node --max-semi-space-size=1 --optimize-for-size /opt/doorbell/dist/agent/cli.js run --config /etc/doorbell/agent.yaml\n`,
    );
  });

  it('refuses a Node.js older than 20.19 and a checkout that was not built, saying what to do', () => {
    const bin = join(temp, 'old-node');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'node'), '#!/bin/sh\necho 18.19.1\n');
    chmodSync(join(bin, 'node'), 0o755);
    const old = sh(join(checkout(), 'scripts/install.sh'), ['--dry-run', '--prefix', join(temp, 'root-old')], {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
    });
    expect(old.status).toBe(1);
    expect(old.stderr).toMatch(/Node\.js 18\.19\.1 at .*old-node\/node is too old: 20\.19 or newer is needed/);

    const unbuilt = sh(join(checkout(false), 'scripts/install.sh'), ['--dry-run', '--prefix', join(temp, 'root-unbuilt')]);
    expect(unbuilt.status).toBe(1);
    expect(unbuilt.stderr).toMatch(/dist is missing: build first with `npm ci && npm run build`/);
  });

  it('uninstall keeps clips, database and config; --purge removes them; --dry-run nothing', () => {
    const src = checkout();
    const root = join(temp, 'root-uninstall');
    expect(sh(join(src, 'scripts/install.sh'), ['--prefix', root, '--skip-npm']).status).toBe(0);
    // What the running agent would have made.
    mkdirSync(join(root, 'var/lib/doorbell/clips'), { recursive: true });
    writeFileSync(join(root, 'var/lib/doorbell/doorbell.db'), 'db');

    const installed = tree(root);
    const dry = sh(join(src, 'scripts/uninstall.sh'), ['--dry-run', '--purge', '--prefix', root]);
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain(`+ rm -rf ${root}/var/lib/doorbell ${root}/etc/doorbell`);
    expect(tree(root)).toEqual(installed);

    const keep = sh(join(src, 'scripts/uninstall.sh'), ['--prefix', root]);
    expect(keep.status).toBe(0);
    expect(keep.stdout).toContain('+ systemctl disable --now doorbell.service   # not run with --prefix');
    const left = tree(root).map((line) => line.split(' ')[0]!);
    expect(left).toEqual(expect.arrayContaining(['var/lib/doorbell/doorbell.db', 'etc/doorbell/agent.yaml']));
    expect(left.filter((p) => /doorbell/.test(p) && !/^(var\/lib|etc)\/doorbell/.test(p))).toEqual([]);

    const purge = sh(join(src, 'scripts/uninstall.sh'), ['--purge', '--prefix', root]);
    expect(purge.status).toBe(0);
    expect(tree(root).filter((line) => line.includes('doorbell'))).toEqual([]);
  });
});

/** The object schema inside optional/default/prefault/nullable wrappers, if it is one. */
function objectShape(schema: z.core.$ZodType): Record<string, z.core.$ZodType> | null {
  let s = schema as unknown as { _zod: { def: { type: string; innerType?: unknown; shape?: Record<string, z.core.$ZodType> } } };
  while (s._zod.def.innerType) s = s._zod.def.innerType as typeof s;
  return s._zod.def.type === 'object' ? s._zod.def.shape! : null;
}

describe('the config template (scripts/agent.example.yaml)', () => {
  const text = readFileSync('scripts/agent.example.yaml', 'utf8');

  it('is a valid config that keeps every default, with the folders systemd provides', () => {
    const parsed = parseConfigText(text, 'agent.example.yaml', {});
    expect(parsed).toEqual(parseConfig({ runtime: { dir: '/run/doorbell' }, storage: { dir: '/var/lib/doorbell' } }, 'defaults', {}));
  });

  it('mentions every top-level and second-level key of the schema, in its section', () => {
    const missing: string[] = [];
    for (const [top, schema] of Object.entries(configSchema.shape)) {
      // A section with no defaults to show (ffmpeg) is commented out whole.
      const start = text.search(new RegExp(`^(# )?${top}:`, 'm'));
      if (start < 0) {
        missing.push(top);
        continue;
      }
      const rest = text.slice(text.indexOf('\n', start) + 1);
      const next = rest.search(/^(?!# {2})\S/m);
      const section = next < 0 ? rest : rest.slice(0, next);
      for (const key of Object.keys(objectShape(schema) ?? {})) {
        if (!new RegExp(`^(# )? {2}(# )?${key}:`, 'm').test(section)) missing.push(`${top}.${key}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

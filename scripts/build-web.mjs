#!/usr/bin/env node
/**
 * Builds the owner's phone app into dist/web: bundles agent/web/app/main.ts and the service worker
 * with esbuild, and copies the static files. Any error fails the build (exit code 1).
 * Usage: node scripts/build-web.mjs [--out DIR]
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const app = join(root, 'agent/web/app');
const STATIC_FILES = ['index.html', 'style.css', 'manifest.webmanifest', 'icon.svg', 'icon-192.png', 'icon-512.png'];

const common = {
  bundle: true,
  minify: true,
  sourcemap: true,
  target: ['es2020', 'chrome100', 'safari15'],
  platform: 'browser',
  legalComments: 'linked',
  logLevel: 'warning',
};

/** `--out DIR` builds elsewhere: tests build their own copy, so parallel runs never share files. */
function outputDir() {
  const flag = process.argv.indexOf('--out');
  if (flag < 0) return join(root, 'dist/web');
  const dir = process.argv[flag + 1];
  if (!dir) throw new Error('--out needs a directory');
  return resolve(dir);
}

/** Only ever clears a folder holding an earlier build (or nothing): `--out .` must not wipe a checkout. */
function clear(dir) {
  if (existsSync(dir) && readdirSync(dir).length > 0 && !existsSync(join(dir, 'index.html'))) {
    throw new Error(`refusing to clear ${dir}: it is not empty and holds no earlier build of the app`);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

async function main() {
  const started = Date.now();
  const out = outputDir();
  clear(out);
  await build({ ...common, entryPoints: [join(app, 'main.ts')], outfile: join(out, 'app.js'), format: 'esm' });
  for (const file of STATIC_FILES) copyFileSync(join(app, file), join(out, file));
  // The service worker's cache is named after the shell it caches, so a new build replaces the old cache.
  const shell = createHash('sha256');
  for (const file of ['app.js', ...STATIC_FILES]) shell.update(readFileSync(join(out, file)));
  const buildId = shell.digest('hex').slice(0, 12);
  await build({
    ...common,
    entryPoints: [join(app, 'sw.ts')],
    outfile: join(out, 'sw.js'),
    format: 'iife',
    define: { BUILD_ID: JSON.stringify(buildId) },
  });
  console.log(`phone app built into ${out} (build ${buildId}) in ${Date.now() - started} ms`);
}

main().catch((err) => {
  console.error(`build-web failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

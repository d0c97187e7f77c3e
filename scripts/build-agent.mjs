#!/usr/bin/env node
/**
 * Bundles the command line (agent/cli.ts) into dist/agent/cli.js, over tsc's copy of it: one
 * tree-shaken, minified file plus a chunk for each command, so `doorbell run` holds only the code it
 * runs. Node keeps the source text of every module it loads, comments included: unbundled, the
 * daemon held every command's modules and every library's comments, about 10 MiB more resident
 * memory (README "Performance").
 * Packages with native code or files of their own stay where npm put them, loaded at run time.
 * Usage: node scripts/build-agent.mjs
 */
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/agent');

/**
 * Loaded from node_modules at run time: native addons (better-sqlite3, onoff), packages that find
 * files beside themselves (fluent-ffmpeg through __dirname, @ffmpeg-installer/ffmpeg its binary),
 * packages the agent loads only when used (node-onvif, web-push), and the demo's broker (aedes with
 * ws, which mqtt shares).
 */
const EXTERNAL = ['better-sqlite3', 'onoff', 'fluent-ffmpeg', '@ffmpeg-installer/ffmpeg', 'node-onvif', 'web-push', 'aedes', 'ws'];

async function main() {
  const started = Date.now();
  // Chunk names carry a hash: drop the last build's, so dist/agent holds only what this build made.
  for (const name of readdirSync(out)) if (/^chunk-|^cli\.js\.LEGAL\.txt$/.test(name)) rmSync(join(out, name));
  await build({
    entryPoints: { cli: join(root, 'agent/cli.ts') },
    outdir: out,
    bundle: true,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    external: EXTERNAL,
    // The bundled CommonJS packages (mqtt and its dependencies) call require() for node's own modules.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  console.log(`agent bundled into ${out}/cli.js in ${Date.now() - started} ms`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

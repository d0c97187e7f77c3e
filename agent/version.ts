import { existsSync, readFileSync } from 'node:fs';

/** The package version, read once from package.json (one level up from agent/, two from dist/agent/). */
function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    const url = new URL(rel, import.meta.url);
    if (!existsSync(url)) continue;
    const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'doorbell-agent' && pkg.version) return pkg.version;
  }
  throw new Error('cannot find the doorbell-agent package.json next to the code');
}

export const VERSION = readVersion();

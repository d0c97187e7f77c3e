import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configKeys } from '../../agent/config.js';
import { commandNames } from '../../agent/cli/commands.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const rows = readme.split('\n').filter((l) => l.startsWith('| `'));

/** A key is documented by a table row naming it whole, or naming its parent and `.leaf` (`gpio.button.pin`, `.activeLow`). */
function documented(key: string): boolean {
  const leaf = key.slice(key.lastIndexOf('.'));
  const parent = key.slice(0, key.lastIndexOf('.'));
  return rows.some((r) => r.includes(`\`${key}\``) || (r.includes(`\`${parent}.`) && r.includes(`\`${leaf}\``)) || r.includes(`\`${parent}${leaf}\``));
}

describe('README', () => {
  it('documents every configuration key of the schema', () => {
    expect(configKeys().filter((k) => !documented(k))).toEqual([]);
  });

  it('lists every CLI command', () => {
    for (const name of commandNames) expect(readme).toContain(`doorbell ${name}`);
  });

  it('has the two-command quick start', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm install && npm test');
  });
});

/**
 * The demo and the owner's approve command as a person sees them, in a real terminal (tmux): the
 * demo narrates enrollment, the request arriving, the decision, the upload and its receipt, and
 * `doorbell owner approve` draws its progress bar. Private tmux server, free ports, temp folders.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { ProgressBar } from '../../agent/cli/progress.js';
import { CLI } from '../helpers/child-agent.js';
import { freePort } from '../helpers/ports.js';
import { writeKeyFile } from '../../agent/owner/index.js';
import { makeRequest, REQUESTER } from '../helpers/protocol.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'demo-narration-'));
const socket = `doorbell-test-${process.pid}-${Date.now()}`;
const configFile = join(dir, 'demo.yaml');
const keyFile = join(dir, 'owner.key');
let receiver: EvidenceReceiver;

const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** What the person sees in a window, scrollback included, lines joined. */
const screen = (target: string): string => tmux('capture-pane', '-p', '-J', '-S', '-500', '-t', target);
const seen = (target: string, pattern: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpExecArray> =>
  waitFor(`${what} in the ${target} window`, () => pattern.exec(screen(target)), timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}\n--- ${target} window ---\n${screen(target)}`);
  });

async function doorbell(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args, '--config', configFile], { env: { ...process.env, DOORBELL_CONFIG: '' } });
  return stdout;
}

beforeAll(async () => {
  writeFileSync(
    configFile,
    stringify({
      device: { id: 'narrated' },
      storage: { dir: join(dir, 'data') },
      runtime: { dir: join(dir, 'run') },
      // Never the demo's own ports (1884, 8884, 8080): another demo may be running on this machine.
      mqtt: { embedded: { host: '127.0.0.1', port: await freePort(), wsPort: await freePort() } },
      web: { enabled: false },
      gpio: { backend: 'simulated' },
      camera: { synthetic: { width: 320, height: 240, fps: 10 } },
      record: { preRollSeconds: 1, postRollSeconds: 1 },
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true },
    }),
  );
  receiver = await startEvidenceReceiver({ dir: join(dir, 'received') });
  tmux('new-session', '-d', '-s', 'demo', '-x', '200', '-y', '50', `${process.execPath} ${CLI} demo --config ${configFile}`);
}, 30_000);

afterAll(async () => {
  try {
    // q stops the demo as a person would; the session ends with its last window.
    if (tmux('list-windows', '-t', 'demo', '-F', '#{window_name}').includes('owner')) tmux('kill-window', '-t', 'demo:owner');
    tmux('send-keys', '-t', 'demo', 'q');
    await waitFor('the demo to stop', () => {
      try {
        tmux('has-session', '-t', 'demo');
        return false;
      } catch {
        return true;
      }
    }, 15_000);
  } finally {
    try {
      tmux('kill-server');
    } catch {
      // Already gone with its last session.
    }
    await receiver?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('the demo narrates, the approve command draws its progress', () => {
  it('shows enrollment, the request, the decision, the upload and its receipt as they happen', async () => {
    await seen('demo', /Press r to ring/, 'the key help', 60_000);
    tmux('send-keys', '-t', 'demo', 'r');
    await seen('demo', /ring \(button\) → clip (\S+)/, 'the ring');
    await seen('demo', /clip \S+ ready/, 'the clip');

    await doorbell('owner', 'keygen', '--out', keyFile).then((out) => {
      const publicKey = /signing key\s+(\S+)/.exec(out)![1]!;
      const seal = /sealing key\s+(age1\S+)/.exec(out)![1]!;
      return doorbell('owner', 'add', '--name', 'Alice', '--key', publicKey, '--seal', seal);
    });
    await seen('demo', /owner "Alice" enrolled \(cli\), key [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4}/, 'the enrollment');

    const request = makeRequest({ uploadUrl: receiver.url('/put/abc') });
    const requestFile = join(dir, 'request.json');
    writeFileSync(requestFile, JSON.stringify(request));
    const requesterKey = join(dir, 'requester.pem');
    writeKeyFile(requesterKey, REQUESTER.privateKey);
    await doorbell('request', 'send', requestFile, '--key', requesterKey);
    const id = String(request.id);
    await seen('demo', new RegExp(`request ${id.replace(/\./g, '\\.')} from Springfield PD \\(police\\): "Package theft on Elm St", 1 clip held, waiting for the owner's decision`), 'the request');

    tmux('new-window', '-d', '-n', 'owner', '-t', 'demo', `${process.execPath} ${CLI} owner approve ${id} --key ${keyFile} --config ${configFile}; sleep 60`);
    const owner = await seen('demo:owner', /status\s+uploaded/, 'the final status', 60_000);
    expect(owner.input).toMatch(/uploading\s+\[#{30}\] 100%/);
    expect(owner.input).toContain(`Approving ${id} from Springfield PD (police)`);

    const demo = screen('demo');
    if (process.env.SHOW_SCREENS) console.log(`${demo}\n---\n${owner.input}`);
    expect(demo).toMatch(new RegExp(`${id}: approved by [0-9a-f ]{19} \\(1 clip\\)`));
    expect(demo).toMatch(new RegExp(`${id}: uploading to 127\\.0\\.0\\.1 \\(attempt 1\\)`));
    expect(demo).toMatch(new RegExp(`${id}: uploaded \\(HTTP 2\\d\\d, [\\d.]+ [KM]iB\\); receipt: manifest sha256 [0-9a-f]{16}…`));
    // In the order they happened.
    const order = ['request', 'approved by', 'uploading to', 'uploaded ('].map((what) => demo.indexOf(what));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  }, 180_000);

  it('prints plain lines, a quarter at a time, when the output is no terminal', () => {
    const lines: string[] = [];
    const bar = new ProgressBar({ isTTY: false, write: (text) => lines.push(text) }, 'up ', 4096);
    for (let sent = 0; sent <= 4096; sent += 512) bar.update(sent, 4096);
    bar.complete();
    expect(lines).toEqual(['up 0%  0 B / 4.0 KiB\n', 'up 25%  1.0 KiB / 4.0 KiB\n', 'up 50%  2.0 KiB / 4.0 KiB\n', 'up 75%  3.0 KiB / 4.0 KiB\n', 'up 100%  4.0 KiB / 4.0 KiB\n']);
    expect(lines.join('')).not.toContain('\r');
  });
});

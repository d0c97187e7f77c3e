import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ControlServer, sendControl, type ControlHandler } from '../../agent/control/index.js';
import { silentLogger } from '../../agent/log.js';

const temp = mkdtempSync(join(tmpdir(), 'control-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

const running: ControlServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

let n = 0;
function socketPath(): string {
  return join(temp, `run${n++}`, 'doorbell', 'control.sock');
}

async function serve(path: string, handlers: Record<string, ControlHandler> = {}): Promise<ControlServer> {
  const server = new ControlServer({
    socketPath: path,
    log: silentLogger,
    handlers: { echo: (args) => ({ echoed: args }), ...handlers },
  });
  await server.start();
  running.push(server);
  return server;
}

/** Sends raw bytes and collects everything the server answers until it closes the connection. */
function rawExchange(path: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => socket.write(payload));
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('control socket', () => {
  it('answers commands, reports handler errors, and lists known commands for unknown ones', async () => {
    const path = socketPath();
    await serve(path, {
      sim: async (args) => ({ simulated: args.what }),
      broken: () => {
        throw new Error('the button is not configured');
      },
    });
    await expect(sendControl(path, 'sim', { what: 'ring' })).resolves.toEqual({ simulated: 'ring' });
    await expect(sendControl(path, 'echo')).resolves.toEqual({ echoed: {} });
    await expect(sendControl(path, 'broken')).rejects.toThrow('the button is not configured');
    await expect(sendControl(path, 'reboot')).rejects.toThrow('unknown command "reboot"; known commands: broken, echo, sim');
    await expect(sendControl(path, 'toString')).rejects.toThrow(/unknown command "toString"/);
  });

  it('creates the socket with mode 0660 in a new 0750 folder, and removes it on stop', async () => {
    const path = socketPath();
    const server = await serve(path);
    const socket = statSync(path);
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o777).toBe(0o660);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o750);
    await server.stop();
    expect(() => statSync(path)).toThrow(/ENOENT/);
  });

  it('answers a malformed line with an error, closes that connection, and keeps serving', async () => {
    const path = socketPath();
    await serve(path);
    const answer = JSON.parse(await rawExchange(path, 'this is not json\n'));
    expect(answer).toMatchObject({ ok: false, error: expect.stringMatching(/^invalid JSON/) });
    const shape = JSON.parse(await rawExchange(path, '{"command":"sim"}\n'));
    expect(shape).toMatchObject({ ok: false, error: expect.stringContaining('"cmd"') });
    const huge = JSON.parse(await rawExchange(path, 'x'.repeat(70 * 1024)));
    expect(huge).toMatchObject({ ok: false, error: expect.stringContaining('longer than 65536 bytes') });
    await expect(sendControl(path, 'echo', { still: 'here' })).resolves.toEqual({ echoed: { still: 'here' } });
  });

  it('answers several requests on one connection in order', async () => {
    const path = socketPath();
    await serve(path, { slow: () => new Promise((resolve) => setTimeout(() => resolve('slow'), 50)) });
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(path, () => socket.write('{"cmd":"slow"}\n{"cmd":"echo","args":{"n":2}}\n'));
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        if (text.split('\n').length > 2) {
          socket.end();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    expect(answer.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { ok: true, result: 'slow' },
      { ok: true, result: { echoed: { n: 2 } } },
    ]);
  });

  it('replaces a stale socket left by a crashed agent', async () => {
    const path = socketPath();
    await serve(path); // creates the folder
    await running.pop()!.stop();
    // A process killed while listening leaves its socket file behind.
    const crashed = spawnSync(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(crashed.signal).toBe('SIGKILL');
    expect(statSync(path).isSocket()).toBe(true);
    await expect(sendControl(path, 'echo')).rejects.toThrow(`no agent is running (no control socket at ${path})`);
    await serve(path);
    await expect(sendControl(path, 'echo')).resolves.toEqual({ echoed: {} });
  });

  it('refuses to start a second server while the first answers', async () => {
    const path = socketPath();
    await serve(path);
    const second = new ControlServer({ socketPath: path, log: silentLogger, handlers: {} });
    await expect(second.start()).rejects.toThrow(/another agent is running/);
    await expect(sendControl(path, 'echo')).resolves.toEqual({ echoed: {} });
  });

  it('says no agent is running when there is no socket', async () => {
    const path = join(temp, 'nowhere', 'control.sock');
    await expect(sendControl(path, 'sim', { what: 'ring' })).rejects.toThrow(
      `no agent is running (no control socket at ${path})`,
    );
  });
});

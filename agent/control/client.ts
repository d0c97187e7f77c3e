/** The other end of the control socket: one request, one answer. */
import { connect } from 'node:net';
import { isPlainObject, MAX_LINE_BYTES } from './protocol.js';

/** No agent listens on the control socket: the CLI may then act on the database itself. */
export class AgentNotRunningError extends Error {
  constructor(socketPath: string) {
    super(`no agent is running (no control socket at ${socketPath})`);
    this.name = 'AgentNotRunningError';
  }
}

/** Sends one command to the running agent and resolves with its result; rejects with the agent's error. */
export function sendControl(
  socketPath: string,
  cmd: string,
  args: Record<string, unknown> = {},
  timeoutMs = 5_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let received = '';
    let settled = false;
    const finish = (error: Error | null, result?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(result);
    };
    const timer = setTimeout(
      () => finish(new Error(`the agent did not answer "${cmd}" within ${timeoutMs} ms (control socket ${socketPath})`)),
      timeoutMs,
    );
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify({ cmd, args }) + '\n'));
    socket.on('data', (chunk: string) => {
      received += chunk;
      const nl = received.indexOf('\n');
      if (nl === -1) {
        if (received.length > MAX_LINE_BYTES) finish(new Error('the agent sent an answer longer than 64 KiB'));
        return;
      }
      let response: unknown;
      try {
        response = JSON.parse(received.slice(0, nl));
      } catch {
        return finish(new Error(`the agent sent an answer that is not JSON: ${received.slice(0, 200)}`));
      }
      if (!isPlainObject(response) || typeof response.ok !== 'boolean') {
        return finish(new Error(`the agent sent an unexpected answer: ${received.slice(0, 200)}`));
      }
      if (response.ok) finish(null, response.result);
      else finish(new Error(String(response.error)));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        finish(new AgentNotRunningError(socketPath));
      } else if (err.code === 'EACCES') {
        finish(new Error(`permission denied on ${socketPath}: run this as the agent's user or a member of its group`));
      } else {
        finish(new Error(`control socket ${socketPath}: ${err.message}`));
      }
    });
    socket.on('close', () => finish(new Error('the agent closed the connection without answering')));
  });
}

/** The local control socket: ControlServer in the agent, sendControl in the CLI. */
export { ControlServer, type ControlHandler, type ControlServerDeps } from './server.js';
export { AgentNotRunningError, sendControl } from './client.js';
export { MAX_LINE_BYTES, type ControlRequest, type ControlResponse } from './protocol.js';

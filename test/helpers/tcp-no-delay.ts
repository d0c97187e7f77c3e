/**
 * Whether the kernel has TCP_NODELAY on this process's TCP connections to or from a port. Node has
 * no getsockopt, so the sockets are found through /proc (fd → inode → /proc/net/tcp) and handed to
 * python3 as inherited file descriptors, which asks the kernel itself.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface TcpEnd {
  localPort: number;
  remotePort: number;
  noDelay: boolean;
}

const ESTABLISHED = '01';

function socketFds(): Map<string, number> {
  const byInode = new Map<string, number>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
      if (inode) byInode.set(inode, Number(fd));
    } catch {
      // closed while listing
    }
  }
  return byInode;
}

const ASK_KERNEL = `import socket, sys
for fd in range(3, 3 + int(sys.argv[1])):
    s = socket.socket(fileno=fd)
    print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    s.detach()`;

/** This process's established IPv4 connections with `port` at either end. */
export function tcpEndsAt(port: number): TcpEnd[] {
  const fds = socketFds();
  const ends = readFileSync('/proc/net/tcp', 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[3] === ESTABLISHED && fds.has(f[9]!))
    .map((f) => ({ localPort: parseInt(f[1]!.split(':')[1]!, 16), remotePort: parseInt(f[2]!.split(':')[1]!, 16), fd: fds.get(f[9]!)! }))
    .filter((e) => e.localPort === port || e.remotePort === port);
  if (ends.length === 0) return [];
  const r = spawnSync('python3', ['-c', ASK_KERNEL, String(ends.length)], {
    stdio: ['ignore', 'pipe', 'pipe', ...ends.map((e) => e.fd)],
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.status !== 0) throw new Error(`python3 could not read TCP_NODELAY: ${r.stderr || r.error?.message}`);
  const flags = r.stdout.trim().split('\n');
  return ends.map((e, i) => ({ localPort: e.localPort, remotePort: e.remotePort, noDelay: flags[i] !== '0' }));
}

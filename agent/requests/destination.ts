/**
 * Upload destination safety (PROTOCOL.md "Request"): the device must not become a way into the
 * owner's network, so every address a destination names or resolves to is checked, and the upload
 * later connects to exactly the addresses checked here.
 */
import { promises as dns } from 'node:dns';
import { isIP, isIPv4, isIPv6 } from 'node:net';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses; the default is the system resolver. */
export type LookupFn = (host: string) => Promise<{ address: string; family: number }[]>;

export interface CheckedDestination {
  url: URL;
  /** Host name (or IP literal without brackets): the Host header and TLS server name. */
  host: string;
  port: number;
  addresses: ResolvedAddress[];
}

export type DestinationReason = 'not-https' | 'bad-url' | 'user-info' | 'private-address' | 'unresolvable';

export class DestinationError extends Error {
  constructor(
    readonly reason: DestinationReason,
    message: string,
  ) {
    super(message);
    this.name = 'DestinationError';
  }
}

export interface DestinationOptions {
  allowInsecure: boolean;
  allowPrivate: boolean;
  lookup?: LookupFn;
}

export const systemLookup: LookupFn = (host) => dns.lookup(host, { all: true, verbatim: true });

interface Range {
  name: string;
  bytes: number[];
  bits: number;
  /** Offset of an IPv4 address embedded in this IPv6 range: that address decides instead. */
  embeddedAt?: number;
}

const v4 = (name: string, cidr: string): Range => {
  const [addr, bits] = cidr.split('/') as [string, string];
  return { name: `${name} (${cidr})`, bytes: addr.split('.').map(Number), bits: Number(bits) };
};
const v6 = (name: string, cidr: string, embeddedAt?: number): Range => {
  const [addr, bits] = cidr.split('/') as [string, string];
  return { name: `${name} (${cidr})`, bytes: ipv6Bytes(addr), bits: Number(bits), ...(embeddedAt === undefined ? {} : { embeddedAt }) };
};

const IPV4_RANGES: Range[] = [
  v4('"this" network', '0.0.0.0/8'),
  v4('private', '10.0.0.0/8'),
  v4('carrier-grade NAT', '100.64.0.0/10'),
  v4('loopback', '127.0.0.0/8'),
  v4('link-local', '169.254.0.0/16'),
  v4('private', '172.16.0.0/12'),
  v4('IETF protocol assignments', '192.0.0.0/24'),
  v4('documentation', '192.0.2.0/24'),
  v4('private', '192.168.0.0/16'),
  v4('benchmarking', '198.18.0.0/15'),
  v4('documentation', '198.51.100.0/24'),
  v4('documentation', '203.0.113.0/24'),
  v4('multicast', '224.0.0.0/4'),
  v4('reserved and broadcast', '240.0.0.0/4'),
];

// Order matters: the exact :: and ::1 come before the IPv4-compatible ::/96 that contains them.
const IPV6_RANGES: Range[] = [
  v6('unspecified', '::/128'),
  v6('loopback', '::1/128'),
  v6('IPv4-mapped', '::ffff:0:0/96', 12),
  v6('IPv4-translated', '::ffff:0:0:0/96', 12),
  v6('IPv4-compatible', '::/96', 12),
  v6('NAT64', '64:ff9b::/96', 12),
  v6('local NAT64', '64:ff9b:1::/48'),
  v6('6to4', '2002::/16', 2),
  v6('discard', '100::/64'),
  v6('documentation', '2001:db8::/32'),
  v6('unique local', 'fc00::/7'),
  v6('link-local', 'fe80::/10'),
  v6('site-local', 'fec0::/10'),
  v6('multicast', 'ff00::/8'),
];

function inRange(bytes: number[], range: Range): boolean {
  for (let bit = 0; bit < range.bits; bit += 8) {
    const take = Math.min(8, range.bits - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((bytes[bit / 8]! ^ range.bytes[bit / 8]!) & mask) !== 0) return false;
  }
  return true;
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

/** Bytes of a valid IPv6 address in any textual form (compressed, zero-padded, dotted IPv4 tail). */
function ipv6Bytes(text: string): number[] {
  let t = text.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (dotted) {
    const [a, b, c, d] = ipv4Bytes(dotted[1]!) as [number, number, number, number];
    t = t.slice(0, -dotted[1]!.length) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head = '', tail] = t.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/**
 * Canonical dotted IPv4 for any form the system resolver would also accept (octal "0177.0.0.1",
 * hex, "127.1", a 32-bit integer): the WHATWG URL host parser follows the same inet_aton rules.
 */
function canonicalIPv4(text: string): string | null {
  if (!/^[0-9a-fA-Fx.]+$/.test(text)) return null;
  try {
    const host = new URL(`http://${text}/`).hostname;
    return isIPv4(host) ? host : null;
  } catch {
    return null;
  }
}

function forbiddenIPv4(bytes: number[]): string | null {
  return IPV4_RANGES.find((r) => inRange(bytes, r))?.name ?? null;
}

/**
 * Why an address must not be a destination (the range it falls in), or null for a public address.
 * Text that is not an IP address is refused too, so a parsing gap can never let an address through.
 */
export function isForbiddenAddress(ip: string): string | null {
  let text = ip.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (text.includes('%')) return 'zone-scoped address';
  if (text.includes(':')) {
    if (!isIPv6(text)) return 'not an IP address';
    const bytes = ipv6Bytes(text);
    const range = IPV6_RANGES.find((r) => inRange(bytes, r));
    if (!range) return null;
    if (range.embeddedAt === undefined) return range.name;
    const inner = bytes.slice(range.embeddedAt, range.embeddedAt + 4);
    const innerRange = forbiddenIPv4(inner);
    return innerRange ? `${range.name} embedding ${inner.join('.')}, ${innerRange}` : null;
  }
  const canonical = canonicalIPv4(text);
  if (!canonical) return 'not an IP address';
  return forbiddenIPv4(ipv4Bytes(canonical));
}

function familyOf(address: string): 4 | 6 {
  return isIPv6(address) ? 6 : 4;
}

/** The checks that need no DNS: a URL, an allowed scheme, no user-info, a host. Throws DestinationError. */
export function checkDestinationUrl(url: string, opts: Pick<DestinationOptions, 'allowInsecure'>): { url: URL; host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DestinationError('bad-url', 'upload.url is not a URL');
  }
  const schemeAllowed = parsed.protocol === 'https:' || (opts.allowInsecure && parsed.protocol === 'http:');
  if (!schemeAllowed) {
    const allowed = opts.allowInsecure ? 'https: or http:' : 'https:';
    throw new DestinationError('not-https', `upload.url scheme ${parsed.protocol} is not ${allowed}`);
  }
  if (parsed.username || parsed.password) throw new DestinationError('user-info', 'upload.url carries user-info');
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new DestinationError('bad-url', 'upload.url has no host');
  const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
  return { url: parsed, host, port };
}

/**
 * Checks `url` and every address its host is or resolves to (all must pass unless allowPrivate).
 * Throws DestinationError.
 */
export async function checkDestination(url: string, opts: DestinationOptions): Promise<CheckedDestination> {
  const { url: parsed, host, port } = checkDestinationUrl(url, opts);
  let addresses: ResolvedAddress[];
  if (isIP(host)) {
    addresses = [{ address: host, family: familyOf(host) }];
  } else {
    let found: { address: string; family: number }[];
    try {
      found = await (opts.lookup ?? systemLookup)(host);
    } catch (err) {
      throw new DestinationError('unresolvable', `cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (found.length === 0) throw new DestinationError('unresolvable', `${host} resolves to no address`);
    const bogus = found.find((a) => !isIP(a.address));
    if (bogus) throw new DestinationError('unresolvable', `${host} resolved to ${JSON.stringify(bogus.address)}, not an address`);
    addresses = found.map((a) => ({ address: a.address, family: familyOf(a.address) }));
  }
  if (!opts.allowPrivate) {
    for (const { address } of addresses) {
      const range = isForbiddenAddress(address);
      if (range) throw new DestinationError('private-address', `${host} is or resolves to ${address}: ${range}`);
    }
  }
  return { url: parsed, host, port, addresses };
}

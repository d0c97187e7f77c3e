import { describe, expect, it } from 'vitest';
import { checkDestination, DestinationError, isForbiddenAddress, type LookupFn } from '../../agent/requests/destination.js';

const strict = { allowInsecure: false, allowPrivate: false };
const resolvesTo =
  (...addresses: string[]): LookupFn =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

async function refusal(url: string, opts: Parameters<typeof checkDestination>[1]): Promise<string> {
  try {
    await checkDestination(url, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(DestinationError);
    return (err as DestinationError).reason;
  }
  throw new Error(`${url} was accepted`);
}

describe('isForbiddenAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['0.0.0.0', '"this" network'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['192.0.0.8', 'IETF'],
    ['192.0.2.1', 'documentation'],
    ['198.19.0.1', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['::ffff:127.0.0.1', 'IPv4-mapped'],
    ['::ffff:7f00:1', 'IPv4-mapped'],
    ['::FFFF:7F00:0001', 'IPv4-mapped'],
    ['0:0:0:0:0:ffff:a00:1', 'private'],
    ['::ffff:0:a00:1', 'IPv4-translated'],
    ['::10.0.0.1', 'IPv4-compatible'],
    ['::7f00:1', 'IPv4-compatible'],
    ['fe80::1', 'link-local'],
    ['FE80::1', 'link-local'],
    ['fe80::1%eth0', 'zone-scoped'],
    ['fd00::1', 'unique local'],
    ['fc00::1', 'unique local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['100::1', 'discard'],
    ['64:ff9b::a00:1', 'NAT64'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b:1::1', 'local NAT64'],
    ['2002:7f00:1::', '6to4'],
    ['2002:c0a8:101::1', 'private'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', 'loopback'],
    ['[::1]', 'loopback'],
    ['[::ffff:127.0.0.1]', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['2130706433', 'loopback'],
    ['127.1', 'loopback'],
  ])('refuses %s', (ip, range) => {
    expect(isForbiddenAddress(ip)).toContain(range);
  });

  it.each(['93.184.216.34', '8.8.8.8', '1.1.1.1', '2606:4700::1', '2a00:1450:4001:82a::200e', '::ffff:93.184.216.34', '64:ff9b::5db8:d822', '2002:5db8:d822::1', '172.32.0.1', '100.128.0.1'])(
    'lets the public address %s through',
    (ip) => {
      expect(isForbiddenAddress(ip)).toBeNull();
    },
  );

  it('refuses text that is not an IP address rather than letting it through', () => {
    expect(isForbiddenAddress('localhost')).toBe('not an IP address');
    expect(isForbiddenAddress('::ffff:127.000.000.001')).toBe('not an IP address');
    expect(isForbiddenAddress('1:2:3')).toBe('not an IP address');
  });
});

describe('checkDestination', () => {
  it('accepts an https URL whose host resolves only to public addresses', async () => {
    const dest = await checkDestination('https://evidence.example/put/abc?X-Sig=1', {
      ...strict,
      lookup: resolvesTo('93.184.216.34', '2606:4700::1'),
    });
    expect(dest.host).toBe('evidence.example');
    expect(dest.port).toBe(443);
    expect(dest.url.search).toBe('?X-Sig=1');
    expect(dest.addresses).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:4700::1', family: 6 },
    ]);
  });

  it('checks IP literals without any lookup', async () => {
    const noLookup: LookupFn = async () => {
      throw new Error('looked up');
    };
    const dest = await checkDestination('https://[2606:4700::1]:8443/x', { ...strict, lookup: noLookup });
    expect(dest).toMatchObject({ host: '2606:4700::1', port: 8443, addresses: [{ address: '2606:4700::1', family: 6 }] });
    for (const literal of ['127.0.0.1', '10.1.2.3', '169.254.169.254', '100.64.0.1', '[::1]', '[::ffff:127.0.0.1]', '[fe80::1]', '[fd00::1]', '[64:ff9b::a00:1]', '0.0.0.0', '224.0.0.1', '0x7f000001']) {
      expect(await refusal(`https://${literal}/put`, { ...strict, lookup: noLookup })).toBe('private-address');
    }
  });

  it('refuses a host when any one of its addresses is private', async () => {
    expect(await refusal('https://evidence.example/put', { ...strict, lookup: resolvesTo('93.184.216.34', '10.0.0.5') })).toBe('private-address');
    expect(await refusal('https://evidence.example/put', { ...strict, lookup: resolvesTo('2606:4700::1', '::ffff:7f00:1') })).toBe('private-address');
  });

  it('lets private addresses through only when allowed', async () => {
    const dest = await checkDestination('https://nas.lan/put', { allowInsecure: false, allowPrivate: true, lookup: resolvesTo('192.168.1.20') });
    expect(dest.addresses).toEqual([{ address: '192.168.1.20', family: 4 }]);
  });

  it('refuses user-info', async () => {
    expect(await refusal('https://user:pw@evidence.example/put', { ...strict, lookup: resolvesTo('93.184.216.34') })).toBe('user-info');
    expect(await refusal('https://user@evidence.example/put', { ...strict, lookup: resolvesTo('93.184.216.34') })).toBe('user-info');
  });

  it('refuses http unless insecure uploads are allowed, and other schemes always', async () => {
    const lookup = resolvesTo('93.184.216.34');
    expect(await refusal('http://evidence.example/put', { ...strict, lookup })).toBe('not-https');
    const insecure = await checkDestination('http://evidence.example/put', { ...strict, allowInsecure: true, lookup });
    expect(insecure.port).toBe(80);
    expect(await refusal('ftp://evidence.example/put', { ...strict, allowInsecure: true, lookup })).toBe('not-https');
    expect(await refusal('file:///etc/passwd', { allowInsecure: true, allowPrivate: true, lookup })).toBe('not-https');
  });

  it('refuses what is not a URL and hosts that do not resolve', async () => {
    expect(await refusal('not a url', strict)).toBe('bad-url');
    const nxdomain: LookupFn = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    expect(await refusal('https://nowhere.example/put', { ...strict, lookup: nxdomain })).toBe('unresolvable');
    expect(await refusal('https://nowhere.example/put', { ...strict, lookup: resolvesTo() })).toBe('unresolvable');
  });
});

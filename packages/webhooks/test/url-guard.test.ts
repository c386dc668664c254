import { blockedReason, checkWebhookUrl, embeddedIpv4, ipv6Bytes, type ResolvedAddress } from '../src';

const strict = { allowHttp: false, allowPrivateNetworks: false };
const resolvingTo =
  (...addresses: string[]) =>
  async (): Promise<ResolvedAddress[]> =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

describe('the webhook URL guard', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback /8'],
    ['10.1.2.3', 'RFC 1918 10/8'],
    ['172.16.0.1', 'RFC 1918 172.16/12'],
    ['172.31.255.255', 'RFC 1918 172.16/12, top'],
    ['192.168.1.1', 'RFC 1918 192.168/16'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'cloud metadata'],
    ['100.64.0.1', 'CGNAT'],
    ['100.127.255.254', 'CGNAT, top'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'IPv6 unspecified'],
    ['::1', 'IPv6 loopback'],
    ['0:0:0:0:0:0:0:1', 'IPv6 loopback, long form'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fd00:ec2::254', 'AWS metadata over IPv6'],
    ['fe80::1', 'IPv6 link-local'],
    ['fe80::1%eth0', 'IPv6 link-local with a zone'],
    ['ff02::1', 'IPv6 multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback, hex'],
    ['::ffff:169.254.169.254', 'IPv4-mapped metadata'],
    ['0:0:0:0:0:ffff:a00:1', 'IPv4-mapped 10.0.0.1, long form'],
    ['::ffff:0:10.0.0.1', 'IPv4-translated'],
    ['::10.0.0.1', 'IPv4-compatible'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of the metadata address'],
    ['2002:c0a8:0101::1', '6to4 of 192.168.1.1'],
  ])('refuses %s (%s)', (address) => {
    expect(blockedReason(address)).not.toBeNull();
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '192.169.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '2002:0808:0808::1',
  ])('allows the public address %s', (address) => {
    expect(blockedReason(address)).toBeNull();
  });

  it('reads IPv6 in every textual form', () => {
    expect(ipv6Bytes('::ffff:1.2.3.4')?.slice(10)).toEqual([0xff, 0xff, 1, 2, 3, 4]);
    expect(ipv6Bytes('1::')).toEqual([0, 1, ...Array<number>(14).fill(0)]);
    expect(embeddedIpv4('::ffff:a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIpv4('2606:4700::1')).toBeNull();
  });

  it.each([
    ['http://example.com/hook', 'https'],
    ['ftp://example.com/hook', 'https'],
    ['https://user:pass@example.com/hook', 'credentials'],
    ['https://user@example.com/hook', 'credentials'],
    ['not a url', 'absolute'],
    [`https://example.com/${'a'.repeat(2100)}`, 'at most'],
    ['https://127.0.0.1/hook', 'refused address'],
    ['https://[::1]/hook', 'refused address'],
    ['https://[::ffff:127.0.0.1]/hook', 'refused address'],
    ['https://0x7f.1/hook', 'refused address'],
    ['https://2130706433/hook', 'refused address'],
    ['https://169.254.169.254/latest/meta-data/', 'refused address'],
    ['https://[fd00:ec2::254]/', 'refused address'],
  ])('refuses %s at registration', async (url, why) => {
    await expect(checkWebhookUrl(url, { ...strict, resolve: resolvingTo('93.184.216.34') })).rejects.toThrow(why);
  });

  it('refuses a host name that resolves to a private address, or to any private address among public ones', async () => {
    await expect(checkWebhookUrl('https://internal.example/', { ...strict, resolve: resolvingTo('10.0.0.5') })).rejects.toThrow(
      /resolves to a refused address/,
    );
    await expect(
      checkWebhookUrl('https://rebind.example/', { ...strict, resolve: resolvingTo('93.184.216.34', '::ffff:192.168.0.1') }),
    ).rejects.toThrow(/resolves to a refused address/);
    await expect(
      checkWebhookUrl('https://nowhere.example/', {
        ...strict,
        resolve: async () => {
          throw new Error('ENOTFOUND');
        },
      }),
    ).rejects.toThrow(/does not resolve/);
  });

  it('answers the checked address, the one a delivery connects to', async () => {
    const checked = await checkWebhookUrl('https://hooks.example/in?x=1', { ...strict, resolve: resolvingTo('93.184.216.34') });
    expect(checked.address).toEqual({ address: '93.184.216.34', family: 4 });
    expect(checked.url.hostname).toBe('hooks.example');
  });

  it('lets http and private addresses through only when allowed', async () => {
    const open = { allowHttp: true, allowPrivateNetworks: true };
    await expect(checkWebhookUrl('http://127.0.0.1:8080/hook', open)).resolves.toMatchObject({ address: { address: '127.0.0.1' } });
    await expect(checkWebhookUrl('http://127.0.0.1:8080/hook', { ...open, allowPrivateNetworks: false })).rejects.toThrow(/refused/);
    await expect(checkWebhookUrl('http://127.0.0.1:8080/hook', { ...open, allowHttp: false })).rejects.toThrow(/https/);
    await expect(checkWebhookUrl('https://user:pw@127.0.0.1/', open)).rejects.toThrow(/credentials/);
  });
});

import { createServer, connect, type Socket } from 'node:net';
import { OpenSources, SourceShares, readPeer, sourceOf } from './admission';

describe('sourceOf', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    [undefined, ''],
  ])('counts %s as %s', (address, source) => {
    expect(sourceOf(address)).toBe(source);
  });

  it('puts every address of one IPv6 /64 in one source and the next /64 in another', () => {
    expect(sourceOf('2001:db8:0:1::a')).toBe(sourceOf('2001:db8:0:1:ffff:ffff:ffff:ffff'));
    expect(sourceOf('2001:db8:0:1::a')).not.toBe(sourceOf('2001:db8:0:2::a'));
  });
});

describe('SourceShares', () => {
  it('gives each source its own burst and rate', () => {
    const shares = new SourceShares(2, 3);
    const taken = (source: string, at: number, n: number) => Array.from({ length: n }, () => shares.tryTake(source, at)).filter(Boolean).length;
    expect(taken('a', 0, 10)).toBe(3);
    expect(taken('b', 0, 10)).toBe(3);
    // 2 a second: one more every 500 ms.
    expect(taken('a', 499, 5)).toBe(0);
    expect(taken('a', 500, 5)).toBe(1);
    expect(taken('a', 5000, 10)).toBe(3);
  });

  it('keeps at most maxSources buckets, dropping refilled ones first', () => {
    const shares = new SourceShares(1, 2, 10);
    shares.tryTake('busy', 0);
    for (let i = 0; i < 20; i++) shares.tryTake(`s${i}`, 0);
    expect(shares.size).toBeLessThanOrEqual(10);
    // Long after, every bucket has refilled: a new source makes room without losing anything.
    shares.tryTake('late', 60_000);
    expect(shares.size).toBeLessThanOrEqual(10);
  });
});

describe('OpenSources', () => {
  it('holds a source while it has a connection and forgets it with the last one', () => {
    const sources = new OpenSources();
    expect(sources.hold('203.0.113.7')).toBe('203.0.113.7');
    sources.hold('203.0.113.7');
    sources.hold('2001:db8:1:2::/64');
    expect(sources.size).toBe(2);
    expect(sources.connectionsFrom('203.0.113.7')).toBe(2);
    sources.release('203.0.113.7');
    expect(sources.connectionsFrom('203.0.113.7')).toBe(1);
    sources.release('203.0.113.7');
    sources.release('2001:db8:1:2::/64');
    expect(sources.size).toBe(0);
    // A release without a hold (never expected) changes nothing.
    sources.release('198.51.100.1');
    expect(sources.size).toBe(0);
  });
});

describe('readPeer', () => {
  it("gives the peer's address and port, and leaves no cached copy on the socket", async () => {
    const server = createServer();
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
    try {
      const socket = await accepted;
      await new Promise<void>((resolve) => (client.localPort ? resolve() : client.once('connect', () => resolve())));
      expect(readPeer(socket)).toEqual({ address: '127.0.0.1', port: client.localPort });
      expect((socket as Socket & { _peername?: unknown })._peername).toBeUndefined();
      // Still readable: Node asks the handle again.
      expect(socket.remoteAddress).toBe('127.0.0.1');
      socket.destroy();
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

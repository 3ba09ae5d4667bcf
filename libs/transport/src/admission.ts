import type { Socket } from 'node:net';

/**
 * The peer's address and port, read once. Node caches the peer's address object on the socket the
 * first time either is read (`_peername`) and keeps it for the socket's life: memory per connection
 * that the transport never reads again (with `OpenSources`, 106 bytes a connection less on the JS
 * heap; docs/benchmarks.md, "a seventh look"). Dropping the cache is safe: should anything read the
 * address later, Node asks the socket's handle again. A TLS socket keeps the raw socket it wraps,
 * with a cache of its own: read each with this.
 */
export function readPeer(socket: Socket): { address: string | undefined; port: number | undefined } {
  const peer = { address: socket.remoteAddress, port: socket.remotePort };
  (socket as Socket & { _peername?: unknown })._peername = undefined;
  return peer;
}

/**
 * The source a connection is counted against: an IPv4 address, or the /64 prefix of an IPv6 one
 * (one subscriber usually holds a whole /64, so counting single IPv6 addresses would give it 2^64
 * shares). IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export function sourceOf(remoteAddress: string | undefined): string {
  if (!remoteAddress) return '';
  if (!remoteAddress.includes(':')) return remoteAddress;
  let address = remoteAddress.toLowerCase();
  const zone = address.indexOf('%');
  if (zone >= 0) address = address.slice(0, zone);
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  const [head = '', tail] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/**
 * Admission shares: a token bucket per source in front of the instance's accept bucket, so that
 * one address (or one IPv6 /64) cannot take more than its share of the connections the instance
 * accepts while other sources wait. Memory stays bounded: past `maxSources` buckets, those that
 * have refilled (they carry no information) are dropped, then the oldest.
 */
export class SourceShares {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxSources = 100_000,
  ) {}

  tryTake(source: string, nowMs: number): boolean {
    let bucket = this.buckets.get(source);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxSources) this.evict(nowMs);
      bucket = { tokens: this.burst, atMs: nowMs };
      this.buckets.set(source, bucket);
    } else if (nowMs > bucket.atMs) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((nowMs - bucket.atMs) * this.ratePerSecond) / 1000);
      bucket.atMs = nowMs;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Sources with a bucket (tests, metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private evict(nowMs: number): void {
    for (const [source, b] of this.buckets) {
      if (b.tokens + ((nowMs - b.atMs) * this.ratePerSecond) / 1000 >= this.burst) this.buckets.delete(source);
    }
    // Still full: many sources at once, each partly spent. Forgetting the oldest only makes it more generous to them.
    const excess = this.buckets.size - Math.floor(this.maxSources * 0.9);
    if (excess <= 0) return;
    let n = 0;
    for (const source of this.buckets.keys()) {
      if (n++ >= excess) break;
      this.buckets.delete(source);
    }
  }
}

/**
 * One string per source among the open connections. Each session keeps its source for the per-source
 * limits on Enroll and Register, and `sourceOf` makes a new string per connection: five thousand
 * devices behind one address held five thousand copies of it. `hold` gives the copy already held,
 * `release` forgets it with the source's last connection, so the table never outgrows the open
 * connections.
 */
export class OpenSources {
  private readonly held = new Map<string, { source: string; connections: number }>();

  hold(source: string): string {
    const entry = this.held.get(source);
    if (entry === undefined) {
      this.held.set(source, { source, connections: 1 });
      return source;
    }
    entry.connections++;
    return entry.source;
  }

  release(source: string): void {
    const entry = this.held.get(source);
    if (entry !== undefined && --entry.connections === 0) this.held.delete(source);
  }

  /** Open connections from the source (tests, metrics). */
  connectionsFrom(source: string): number {
    return this.held.get(source)?.connections ?? 0;
  }

  /** Sources with an open connection. */
  get size(): number {
    return this.held.size;
  }
}

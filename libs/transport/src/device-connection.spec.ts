import { Logger } from '@nestjs/common';
import { PROTOCOL_VERSION, decodeFrame, encodeFrame, type DeliveryV1, type Priority } from '@borealis/contracts';
import { CredentialAuthority } from './credentials';
import { DeviceConnection, type ConnectionHost } from './device-connection';
import { DeviceSession, type SessionSettings } from './device-session';
import { TransportStats, type ServerReadings } from './transport-stats';

const settings: SessionSettings = {
  instanceId: 'transport-0',
  heartbeatIntervalMs: 30_000,
  idleTimeoutMs: 75_000,
  helloTimeoutMs: 10_000,
  requestTimeoutMs: 5000,
  presenceRefreshMs: 30_000,
  maxPendingRequests: 2,
  frameBudgets: {
    ack: { perSecond: 500, burst: 4000, intervalMs: 2, limitMs: 8000 },
    ping: { perSecond: 2, burst: 20, intervalMs: 500, limitMs: 10_000 },
    request: { perSecond: 5, burst: 100, intervalMs: 200, limitMs: 20_000 },
  },
};
const authority = new CredentialAuthority({ secret: 'k'.repeat(40), maxAgeMs: 86_400_000 });
const HWM = 1000;

interface Write {
  ids: string[];
  /** 'notification': the hot path; 'frames': queued, a frame each; 'batch': one Notifications frame. */
  how: 'notification' | 'frames' | 'batch';
}

class FakeHost implements ConnectionHost {
  readonly stats = new TransportStats();
  readonly logger = new Logger('test');
  readonly closeGraceMs = 1000;
  readonly writeHighWaterBytes = HWM;
  nowMs = 1_700_000_000_000;
  readonly scheduled: Array<{ connection: DeviceConnection; when: 'coalesced' | 'retry' }> = [];
  readonly writtenIds: string[][] = [];

  constructor(
    readonly maxUnsentBytes = 10_000,
    readonly coalesceMs = 0,
  ) {
    jest.spyOn(this.logger, 'warn').mockImplementation(() => undefined);
  }

  // Effects, closes and wake-ups are the server's business; these tests watch the writes.
  perform(): void {
    return undefined;
  }
  closed(): void {
    return undefined;
  }
  wake(): void {
    return undefined;
  }
  now(): number {
    return this.nowMs;
  }
  schedulePump(connection: DeviceConnection, when: 'coalesced' | 'retry'): void {
    this.scheduled.push({ connection, when });
  }
  written(_connection: DeviceConnection, messageIds: string[]): void {
    this.writtenIds.push(messageIds);
  }
}

/** A connection over a pretend socket whose unsent bytes the test sets; every write adds its bytes. */
class FakeConnection extends DeviceConnection {
  unsent = 0;
  destroyed = false;
  readonly writes: Write[] = [];
  readonly flushed: Array<() => void> = [];

  get wire(): 'tcp' {
    return 'tcp';
  }
  protected get unsentBytes(): number {
    return this.unsent;
  }
  get writable(): boolean {
    return !this.destroyed;
  }
  protected writeFrames(): void {
    return undefined;
  }
  protected writeNotification(delivery: DeliveryV1): number {
    this.writes.push({ ids: [delivery.messageId], how: 'notification' });
    this.unsent += 100;
    return this.unsent;
  }
  protected writeQueued(frames: Buffer[], batch: boolean, flushed: () => void): void {
    const ids = frames.map((f) => decodeFrame(f).notification!.messageId!);
    this.writes.push({ ids, how: batch ? 'batch' : 'frames' });
    this.unsent += frames.reduce((n, f) => n + f.length, 0);
    this.flushed.push(flushed);
  }
  protected endWire(): void {
    this.destroy();
  }
  destroy(): void {
    this.destroyed = true;
    this.onClose();
  }
  /** The socket handed everything to the kernel. */
  drain(): void {
    this.unsent = 0;
    for (const f of this.flushed.splice(0)) f();
  }
}

function connect(host: FakeHost, protocolVersion = PROTOCOL_VERSION): { connection: FakeConnection; deviceId: string } {
  const session = new DeviceSession({ settings, epochMs: host.nowMs, credentials: authority, newCorrelationId: () => 'c' }, host.nowMs);
  session.onFrame(decodeFrame(encodeFrame({ hello: { protocolVersion } })), host.nowMs);
  return { connection: new FakeConnection(session, host), deviceId: session.deviceId! };
}

/** A server's readings with `open` connections and devices and no group memory. */
function readings(open: number): ServerReadings {
  return { connectionsOpen: open, devicesHeld: open, sourcesConnected: open, unackedGroupMessages: 0, unackedGroupBytes: 0, unackedGroupEvicted: 0 };
}

function push(deviceId: string, messageId: string, priority: Priority = 'normal', overrides: Partial<DeliveryV1> = {}): DeliveryV1 {
  return { kind: 'deliver', messageId, deviceId, applicationId: 'app', registrationId: 'reg', title: 't', message: 'm', data: null, sentAtMs: 1, expiresAtMs: 2_000_000_000_000, priority, ...overrides };
}

describe('DeviceConnection: the write queue', () => {
  it('writes at once while the socket keeps up: no queue, no pump, the caller reports it sent', () => {
    const host = new FakeHost();
    const { connection, deviceId } = connect(host);
    expect(connection.deliver(push(deviceId, 'a'))).toBe('written');
    expect(connection.deliver(push(deviceId, 'b', 'high'))).toBe('written');
    expect(connection.writes).toEqual([
      { ids: ['a'], how: 'notification' },
      { ids: ['b'], how: 'notification' },
    ]);
    expect(connection.queuedNotifications).toBe(0);
    expect(host.scheduled).toEqual([]);
    expect(host.writtenIds).toEqual([]);
    expect(host.stats.snapshot(readings(1)).framesOut).toEqual({ notification: 2 });
  });

  it('queues beyond the high-water mark and writes high pushes first when the socket drains, reporting each sent once written', () => {
    const host = new FakeHost();
    const { connection, deviceId } = connect(host);
    connection.unsent = HWM + 1;
    expect(connection.deliver(push(deviceId, 'n1'))).toBe('queued');
    expect(connection.deliver(push(deviceId, 'n2'))).toBe('queued');
    expect(connection.deliver(push(deviceId, 'h1', 'high'))).toBe('queued');
    expect(connection.deliver(push(deviceId, 'n3'))).toBe('queued');
    expect(connection.deliver(push(deviceId, 'h2', 'high'))).toBe('queued');
    expect(connection.writes).toEqual([]);
    expect(host.writtenIds).toEqual([]);
    // One retry scheduled, however many wait.
    expect(host.scheduled).toEqual([{ connection, when: 'retry' }]);
    expect(connection.queuedNotifications).toBe(5);

    connection.drain();
    connection.retryPump();
    // A version 3 device: packed into one Notifications frame, high ones first, each FIFO.
    expect(connection.writes).toEqual([{ ids: ['h1', 'h2', 'n1', 'n2', 'n3'], how: 'batch' }]);
    expect(host.writtenIds).toEqual([['h1', 'h2', 'n1', 'n2', 'n3']]);
    expect(connection.queuedNotifications).toBe(0);
    const stats = host.stats.snapshot(readings(1));
    expect(stats).toMatchObject({ deliveries: 5, deliveriesQueued: 5, framesOut: { notifications: 1 } });
    // Empty again: the next push takes the hot path.
    connection.drain();
    expect(connection.deliver(push(deviceId, 'n4'))).toBe('written');
  });

  it('writes no more than the high-water mark allows per pump, and a high push that comes meanwhile goes next', () => {
    const host = new FakeHost();
    const { connection, deviceId } = connect(host, 2);
    connection.unsent = HWM + 1;
    for (let i = 0; i < 30; i++) connection.deliver(push(deviceId, `n${i}`, 'normal', { message: 'x'.repeat(200) }));
    connection.drain();
    connection.pump();
    // A version 2 device: a frame per push, as many as fit under the high-water mark before the socket is over it.
    const first = connection.writes.flatMap((w) => w.ids);
    expect(connection.writes.every((w) => w.how === 'frames')).toBe(true);
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThan(30);
    expect(connection.deliver(push(deviceId, 'urgent', 'high'))).toBe('queued');
    const before = connection.writes.length;
    connection.drain();
    expect(connection.writes[before]!.ids[0]).toBe('urgent');
    while (connection.queuedNotifications > 0) connection.drain();
    const order = connection.writes.flatMap((w) => w.ids);
    expect(order).toEqual([...first, 'urgent', ...Array.from({ length: 30 - first.length }, (_, i) => `n${first.length + i}`)]);
    expect(host.writtenIds.flat().sort()).toEqual([...order].sort());
  });

  it('cuts the device when a write at once takes its socket past the unsent limit: the bytes counted are those after the write', () => {
    const host = new FakeHost(HWM + 50);
    const { connection, deviceId } = connect(host);
    // At the high-water mark, not over it: the push is written at once, and its 100 bytes pass the limit.
    connection.unsent = HWM;
    expect(connection.deliver(push(deviceId, 'a'))).toBe('not_held');
    expect(connection.writes).toEqual([{ ids: ['a'], how: 'notification' }]);
    expect(connection.destroyed).toBe(true);
    expect(host.stats.snapshot(readings(0))).toMatchObject({ slowReaderDrops: 1, deliveriesQueued: 0 });
  });

  it('cuts the device when the socket and the queue together pass the unsent limit; what was queued is never reported sent', () => {
    const host = new FakeHost(2000);
    const { connection, deviceId } = connect(host);
    connection.unsent = HWM + 1;
    let outcome = 'queued';
    let n = 0;
    while (outcome === 'queued' && n < 100) outcome = connection.deliver(push(deviceId, `n${n++}`, 'normal', { message: 'x'.repeat(100) }));
    expect(outcome).toBe('not_held');
    expect(connection.destroyed).toBe(true);
    expect(host.writtenIds).toEqual([]);
    expect(host.stats.snapshot(readings(0))).toMatchObject({ slowReaderDrops: 1, queuedUnwritten: n - 1, deliveriesQueued: n - 1 });
    expect(connection.deliver(push(deviceId, 'late'))).toBe('not_held');
  });

  it('drops a queued push that expired while it waited, as the inbox does', () => {
    const host = new FakeHost();
    const { connection, deviceId } = connect(host);
    connection.unsent = HWM + 1;
    connection.deliver(push(deviceId, 'soon', 'normal', { expiresAtMs: host.nowMs + 10 }));
    connection.deliver(push(deviceId, 'later'));
    host.nowMs += 10;
    connection.drain();
    connection.pump();
    expect(connection.writes).toEqual([{ ids: ['later'], how: 'frames' }]);
    expect(host.writtenIds).toEqual([['later']]);
    expect(host.stats.deliveriesExpired).toBe(1);
  });
});

describe('DeviceConnection: coalescing', () => {
  it('holds normal pushes to a version 3 device for the window, then writes them in one frame', () => {
    const host = new FakeHost(10_000, 50);
    const { connection, deviceId } = connect(host);
    expect(connection.deliver(push(deviceId, 'n1'))).toBe('queued');
    expect(connection.deliver(push(deviceId, 'n2'))).toBe('queued');
    expect(host.scheduled).toEqual([{ connection, when: 'coalesced' }]);
    // Too early (a pump for an earlier window): nothing goes.
    host.nowMs += 49;
    connection.pump();
    expect(connection.writes).toEqual([]);
    host.nowMs += 1;
    connection.pump();
    expect(connection.writes).toEqual([{ ids: ['n1', 'n2'], how: 'batch' }]);
    expect(host.writtenIds).toEqual([['n1', 'n2']]);
  });

  it('writes a high push at once, first, with the held normal ones behind it', () => {
    const host = new FakeHost(10_000, 50);
    const { connection, deviceId } = connect(host);
    connection.deliver(push(deviceId, 'n1'));
    connection.deliver(push(deviceId, 'n2'));
    expect(connection.deliver(push(deviceId, 'h1', 'high'))).toBe('queued');
    expect(connection.writes).toEqual([{ ids: ['h1', 'n1', 'n2'], how: 'batch' }]);
    expect(host.writtenIds).toEqual([['h1', 'n1', 'n2']]);
    // The window's pump finds nothing left.
    host.nowMs += 50;
    connection.pump();
    expect(connection.writes).toHaveLength(1);
    // Alone, a high push takes the hot path.
    expect(connection.deliver(push(deviceId, 'h2', 'high'))).toBe('written');
  });

  it('does not hold pushes to a device of protocol version 1 or 2', () => {
    for (const version of [1, 2]) {
      const host = new FakeHost(10_000, 50);
      const { connection, deviceId } = connect(host, version);
      expect(connection.deliver(push(deviceId, 'n1'))).toBe('written');
      expect(host.scheduled).toEqual([]);
    }
  });

  it('writes a full frame of held pushes without waiting for the window', () => {
    const host = new FakeHost(100_000, 50);
    const { connection, deviceId } = connect(host);
    let n = 0;
    while (connection.writes.length === 0 && n < 100) connection.deliver(push(deviceId, `n${n++}`, 'normal', { message: 'x'.repeat(200) }));
    // Once a frame's worth (here the high-water mark, 1000 bytes) waits, all held go, in frames of at most that much.
    expect(n).toBeGreaterThan(1);
    expect(n).toBeLessThan(10);
    expect(connection.writes[0]!.how).toBe('batch');
    expect(connection.writes.flatMap((w) => w.ids)).toEqual(Array.from({ length: n }, (_, i) => `n${i}`));
    expect(connection.queuedNotifications).toBe(0);
  });
});

describe('DeviceConnection: cancel', () => {
  it('takes cancelled messages out of the queue: they are never written nor reported', () => {
    const host = new FakeHost(10_000, 50);
    const { connection, deviceId } = connect(host);
    connection.deliver(push(deviceId, 'n1'));
    connection.deliver(push(deviceId, 'n2'));
    expect(connection.cancelQueued(['n1', 'other'])).toBe(1);
    host.nowMs += 50;
    connection.pump();
    expect(connection.writes).toEqual([{ ids: ['n2'], how: 'frames' }]);
    expect(host.writtenIds).toEqual([['n2']]);
    expect(connection.cancelQueued(['n2'])).toBe(0);
  });
});

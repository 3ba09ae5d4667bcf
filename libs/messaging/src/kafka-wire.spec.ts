import { randomBytes } from 'node:crypto';
import { crc32c, decodeProduceResponse, murmur2, partitionForKey, produceRequest, type WireRecord } from './kafka-wire';

// kafkajs's own implementations and decoders, as the reference the lean producer must agree with.
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: Buffer) => number;
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C') as (buf: Buffer) => number;
const KafkajsDecoder = require('kafkajs/src/protocol/decoder') as new (buf: Buffer) => {
  readInt16(): number;
  readInt32(): number;
  readString(): string | null;
  readArrayAsync<T>(item: (d: unknown) => Promise<T>): Promise<T[]>;
};
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  decoder: unknown,
) => Promise<{ records: { key: Buffer; value: Buffer; headers: Record<string, Buffer>; offset: string; timestamp: string }[]; lastOffsetDelta: number }>;

describe('Kafka wire encoding', () => {
  it('murmur2 and the partition of a key agree with kafkajs (and the Java client)', () => {
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'project:device:r1_xyz', 'ünïcödé ключ', ...Array.from({ length: 300 }, (_, i) => randomBytes(i % 40).toString('base64'))];
    for (const key of keys) {
      const bytes = Buffer.from(key, 'utf8');
      expect(murmur2(bytes)).toBe(kafkajsMurmur2(bytes));
      expect(partitionForKey(key, 4)).toBe((kafkajsMurmur2(bytes) & 0x7fffffff) % 4);
    }
  });

  it('CRC32C matches the check value and kafkajs', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    const data = randomBytes(5000);
    expect(crc32c(data)).toBe(kafkajsCrc32c(data) >>> 0);
  });

  it('a produce request decodes, with kafkajs, to the records in order, per partition, with a valid CRC', async () => {
    const records = (n: number, tag: string): WireRecord[] =>
      Array.from({ length: n }, (_, i) => ({ key: `${tag}-${i}`, value: JSON.stringify({ i, text: 'ü'.repeat(i * 40) }), headers: i % 2 ? { 'x-request-id': `req-${i}`, other: 'v' } : ({} as Record<string, string>) }));
    const byPartition = new Map([
      [0, records(3, 'p0')],
      [3, records(200, 'p3')],
    ]);
    const at = 1_764_000_000_123;
    const body = produceRequest('borealis.test', byPartition, -1, 5000, at);

    const d = new KafkajsDecoder(body);
    expect(d.readString()).toBeNull(); // transactional id
    expect(d.readInt16()).toBe(-1); // acks
    expect(d.readInt32()).toBe(5000);
    expect(d.readInt32()).toBe(1);
    expect(d.readString()).toBe('borealis.test');
    expect(d.readInt32()).toBe(2);
    for (const [partition, sent] of byPartition) {
      expect(d.readInt32()).toBe(partition);
      const size = d.readInt32();
      const batch = body.subarray((d as unknown as { offset: number }).offset, (d as unknown as { offset: number }).offset + size);
      // The CRC covers everything after itself (from the attributes on).
      expect(batch.readUInt32BE(17)).toBe(crc32c(batch, 21));
      expect(batch.readInt8(16)).toBe(2); // magic
      const decoded = await decodeRecordBatch(d);
      expect(decoded.lastOffsetDelta).toBe(sent.length - 1);
      expect(
        decoded.records.map((r) => ({
          key: r.key.toString(),
          value: r.value.toString(),
          headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()])),
          offset: r.offset,
          timestamp: r.timestamp,
        })),
      ).toEqual(sent.map((r, i) => ({ ...r, offset: String(i), timestamp: String(at) })));
    }
  });

  it('reads the error code of each partition from a produce response', () => {
    const topic = Buffer.from('t');
    const body = Buffer.alloc(4 + 2 + topic.length + 4 + 2 * (4 + 2 + 16) + 4);
    let o = body.writeInt32BE(1, 0);
    o = body.writeInt16BE(topic.length, o);
    o += topic.copy(body, o);
    o = body.writeInt32BE(2, o);
    o = body.writeInt32BE(0, o);
    o = body.writeInt16BE(0, o) + 16;
    o = body.writeInt32BE(1, o);
    body.writeInt16BE(19, o);
    expect(decodeProduceResponse(body)).toEqual([
      { topic: 't', partition: 0, errorCode: 0 },
      { topic: 't', partition: 1, errorCode: 19 },
    ]);
  });
});

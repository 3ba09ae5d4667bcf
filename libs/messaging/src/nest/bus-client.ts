import { Injectable } from '@nestjs/common';
import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import { throwError, type Observable } from 'rxjs';
import type { TopicDef } from '@borealis/contracts';
import { MessageBus, type PublishOptions, type PublishRecord } from '../message-bus';

/**
 * The Nest client of the bus: `emit(topic, records)` publishes a batch through the MessageBus and
 * completes once it is durable (Kafka: acknowledged by all in-sync replicas; in process: handled by
 * every group), or fails. `publish(topic, records)` is the same as a typed promise, for code that
 * awaits it. Request-reply (`send`) does not exist on the bus and is refused. A module that publishes
 * lists it among its providers (as one registers a client with ClientsModule); it wraps the
 * process's MessageBus, which the platform provides.
 */
@Injectable()
export class BusClient extends ClientProxy {
  constructor(private readonly bus: MessageBus) {
    super();
  }

  /**
   * Typed `emit`: resolves when the records are durable. A handler passes the batch it is handling
   * as `causedBy` (see `PublishOptions`).
   */
  publishBatch<T>(topic: TopicDef<T>, records: PublishRecord<NoInfer<T>>[], options?: Pick<PublishOptions, 'causedBy'>): Promise<void> {
    return this.bus.publish(topic, records, options);
  }

  override send<TResult = unknown, TInput = unknown>(pattern: unknown, _data?: TInput): Observable<TResult> {
    return throwError(() => new Error(`BusClient.send(${describe(pattern)}): the message bus has no request-reply; publish with emit and consume the answer with @BusEventPattern`));
  }

  /** The bus connects when the platform starts it. */
  connect(): Promise<void> {
    return Promise.resolve();
  }

  /** The platform stops the bus on shutdown. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  override unwrap<T>(): T {
    return this.bus as T;
  }

  protected async dispatchEvent<T = unknown>(packet: ReadPacket<unknown>): Promise<T> {
    const topic = packet.pattern as TopicDef<unknown> | undefined;
    if (!topic || typeof topic !== 'object' || typeof topic.name !== 'string' || !topic.schema) {
      throw new Error(`BusClient.emit(${describe(packet.pattern)}): the pattern must be a topic from @borealis/contracts`);
    }
    if (!Array.isArray(packet.data)) throw new Error(`BusClient.emit(${topic.name}): the data must be an array of records ({ value, key?, headers? })`);
    await this.bus.publish(topic, packet.data as PublishRecord<unknown>[], { unchecked: true });
    return undefined as T;
  }

  protected publish(_packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    callback({ err: new Error('the message bus has no request-reply'), isDisposed: true });
    return () => undefined;
  }
}

function describe(pattern: unknown): string {
  if (typeof pattern === 'string') return pattern;
  if (pattern && typeof pattern === 'object' && typeof (pattern as { name?: unknown }).name === 'string') return (pattern as { name: string }).name;
  return typeof pattern;
}

import type { InjectionToken } from '@nestjs/common';
import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import type { TopicDef } from '@borealis/contracts';
import type { BusMessage, MessageBus } from '../message-bus';
import { BusContext } from './bus-context';
import { BUS_EXTRAS, type BusExtras, type BusResolve, type Resolvable } from './bus-pattern';

/** Marks the handlers and clients of this transport (`@EventPattern(…, { transport })` may name it). */
export const BUS_TRANSPORT = Symbol('borealis.bus');

interface Consumer {
  topic: TopicDef<unknown>;
  group: string;
  fromBeginning: boolean;
  batchWaitMs: number;
  handlers: MessageHandler[];
}

const noResolve: BusResolve = () => {
  throw new Error('this BusTransport was created without a resolver, so handlers must name their topic and group literally');
};

/**
 * The custom transport strategy over our MessageBus (Kafka in distributed mode, in process in
 * standalone mode). On `listen` it subscribes every `@BusEventPattern` handler Nest registered,
 * with the consumer group from the pattern's extras; the bus then does what it always did: hands
 * the handler a batch of decoded records, commits after the returned promise resolves, retries a
 * failure and dead-letters bad input (`isRetryable`). The bus itself belongs to the platform,
 * which starts it after the app's modules are initialized and stops it on shutdown, before Nest
 * closes this server.
 *
 * Several handlers of one topic (Nest chains them under one pattern) each run in their own group,
 * or, when they share one, one after the other on the same batch, which is committed once all of
 * them succeeded (a failure runs them all again: handlers are idempotent).
 */
export class BusTransport extends Server implements CustomTransportStrategy {
  override readonly transportId = BUS_TRANSPORT;

  constructor(
    private readonly bus: MessageBus,
    private readonly resolve: BusResolve = noResolve,
  ) {
    super();
  }

  /** Built once: unchaining Nest's handlers is not repeatable. */
  private subscribed: Consumer[] | null = null;

  async listen(callback: (err?: unknown) => void): Promise<void> {
    try {
      if (this.subscribed) throw new Error('BusTransport is listening already: a bus subscription cannot be made twice');
      const consumers = (this.subscribed = this.consumers());
      await Promise.all(
        consumers.map((c) =>
          this.bus.subscribe({
            topic: c.topic,
            group: c.group,
            fromBeginning: c.fromBeginning,
            batchWaitMs: c.batchWaitMs,
            handler: (messages) => this.dispatch(c, messages),
          }),
        ),
      );
      callback();
    } catch (err) {
      callback(err);
    }
  }

  /** The bus is stopped by the platform (after the services drained); nothing of its own to close. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  on(): never {
    throw new Error('BusTransport emits no events');
  }

  unwrap<T>(): T {
    return this.bus as T;
  }

  /** One consumer per (topic, group), from the handlers Nest registered, chained ones included. */
  private consumers(): Consumer[] {
    const byKey = new Map<string, Consumer>();
    for (const [pattern, head] of this.getHandlers()) {
      if (!head.isEventHandler) throw new Error(`@MessagePattern('${pattern}'): the message bus has no request-reply; use @BusEventPattern`);
      // Nest runs a chain's handlers together on each call; here each link is called alone.
      const links: MessageHandler[] = [];
      for (let link: MessageHandler | undefined = head; link; ) {
        const next: MessageHandler | undefined = link.next as MessageHandler | undefined;
        link.next = undefined;
        links.push(link);
        link = next;
      }
      for (const link of links) {
        const extras = (link.extras as Record<string, BusExtras | undefined> | undefined)?.[BUS_EXTRAS];
        if (!extras) throw new Error(`@EventPattern('${pattern}') has no topic and consumer group for the bus: declare it with @BusEventPattern`);
        const topic = this.resolved(extras.topic);
        const group = this.resolved(extras.group);
        const fromBeginning = extras.fromBeginning ?? true;
        const batchWaitMs = extras.batchWaitMs ?? 0;
        const key = `${topic.name}\u0000${group}`;
        const known = byKey.get(key);
        if (!known) byKey.set(key, { topic, group, fromBeginning, batchWaitMs, handlers: [link] });
        else if (known.fromBeginning !== fromBeginning) throw new Error(`the handlers of ${topic.name} in group ${group} disagree on fromBeginning`);
        else if (known.batchWaitMs !== batchWaitMs) throw new Error(`the handlers of ${topic.name} in group ${group} disagree on batchWaitMs`);
        else known.handlers.push(link);
      }
    }
    return [...byKey.values()];
  }

  private resolved<V>(value: Resolvable<V>): V {
    return typeof value === 'function' ? (value as (resolve: BusResolve) => V)(this.resolve) : value;
  }

  private async dispatch(consumer: Consumer, messages: BusMessage<unknown>[]): Promise<void> {
    const values = messages.map((m) => m.value);
    const context = new BusContext([messages, consumer.group]);
    for (const handler of consumer.handlers) {
      // Nest's proxy resolves to the handler's value, or to an Observable that fails with what
      // the exception filter made of an error (BusErrorPassthrough: the error itself).
      await lastValueFrom(this.transformToObservable(handler(values, context)), { defaultValue: undefined });
    }
  }
}

/** A resolver over a running Nest app's providers (`app.get(token, { strict: false })`). */
export function resolverOf(app: { get<V>(token: InjectionToken<V>, options: { strict: false }): V }): BusResolve {
  return <V>(token: InjectionToken<V>) => app.get<V>(token, { strict: false });
}

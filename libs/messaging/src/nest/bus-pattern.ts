import { applyDecorators, Catch, UseFilters, type ExceptionFilter, type InjectionToken } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { throwError, type Observable } from 'rxjs';
import type { TopicDef } from '@borealis/contracts';

/** Looks a provider up in the running app (module options, settings), for names known only at boot. */
export type BusResolve = <V>(token: InjectionToken<V>) => V;

/** A value fixed in the decorator, or one computed from the app's providers when the transport starts. */
export type Resolvable<V> = V | ((resolve: BusResolve) => V);

/** A topic whose name depends on the process (a transport instance's inbox). */
export interface DynamicTopic<T> {
  /** The handler's Nest pattern: stable, unique to this topic family. */
  pattern: string;
  topic: (resolve: BusResolve) => TopicDef<T>;
}

export interface BusHandlerOptions {
  /** Consumer group. Every group receives every record; members of one group share them. */
  group: Resolvable<string>;
  /** Where a group without a committed offset starts (default: earliest). */
  fromBeginning?: boolean;
  /** In one process, how long a batch's first record waits for more (`Subscription.batchWaitMs`). */
  batchWaitMs?: number;
}

/** The key of the `@EventPattern` extras that BusTransport reads. */
export const BUS_EXTRAS = 'borealis.bus';

export interface BusExtras {
  topic: Resolvable<TopicDef<unknown>>;
  group: Resolvable<string>;
  fromBeginning?: boolean;
  batchWaitMs?: number;
}

/**
 * Lets every error of a bus handler through as it was thrown. Nest's default RPC filter turns
 * anything but an RpcException into `{ status: 'error', message: 'Internal server error' }`, which
 * would erase the distinction the bus decides on (`isRetryable`: bad input is dead-lettered,
 * anything else retried).
 */
@Catch()
export class BusErrorPassthrough implements ExceptionFilter {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}

const PASSTHROUGH = new BusErrorPassthrough();

/**
 * `@EventPattern` for a topic of the bus: the handler gets `@Payload()` the batch's decoded values
 * (`T[]`) and `@Ctx()` a BusContext, and returns a promise; the batch is committed after it
 * resolves. Its consumer group and start position travel in the pattern's extras, and the error
 * filter above is applied, so a handler cannot lose its errors to Nest's default filter.
 */
export function BusEventPattern<T>(topic: TopicDef<T> | DynamicTopic<T>, options: BusHandlerOptions): MethodDecorator {
  const dynamic = 'pattern' in topic;
  const extras: BusExtras = {
    topic: dynamic ? (topic.topic as (resolve: BusResolve) => TopicDef<unknown>) : (topic as TopicDef<unknown>),
    group: options.group,
    ...(options.fromBeginning !== undefined ? { fromBeginning: options.fromBeginning } : {}),
    ...(options.batchWaitMs !== undefined ? { batchWaitMs: options.batchWaitMs } : {}),
  };
  return applyDecorators(EventPattern(dynamic ? topic.pattern : topic.name, { [BUS_EXTRAS]: extras }), UseFilters(PASSTHROUGH));
}

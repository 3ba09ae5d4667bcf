import { Inject, Injectable, Module, type DynamicModule, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import Redis from 'ioredis';
import { createRemoteJWKSet } from 'jose';
import { BusClient } from '@borealis/messaging';
import { Clock } from '@borealis/util';
import { AccessGuard, RequestAuthorizer } from './access/access.guard';
import { AccessTokenVerifier } from './access/access-token-verifier';
import { MessageCancelService } from './cancel/message-cancel.service';
import { HttpRegistrationReader, RegistrationReader } from './registrations/registration-reader';
import { RegistrationManagementService } from './registrations/registration-management.service';
import { GATEWAY_OPTIONS, type BucketLimit, type GatewayModuleOptions } from './gateway-options';
import { PublicApiSetup } from './http/public-api-setup';
import { IdempotencyStore, MemoryIdempotencyStore, RedisIdempotencyStore } from './idempotency/idempotency-store';
import { ApiDocsController } from './openapi/api-docs.controller';
import { PushApiController } from './push-api.controller';
import { RequestLimits } from './rate-limit/request-limits';
import { ProjectRegistryView } from './registry/project-registry.view';
import { RegistryEventsController } from './registry/registry-events.controller';
import { AcceptedPublisher } from './send/accepted-publisher';
import { MulticastService } from './send/multicast.service';
import { SendMessageService } from './send/send-message.service';
import { SendRoute } from './send/send-route';
import { HttpProjectStatsReader, ProjectStatsReader } from './stats/project-stats-reader';
import { HttpMessageListReader, MessageListReader } from './status/message-list-reader';
import { HttpMessageStatusReader, MessageStatusReader } from './status/message-status-reader';
import { TopicSubscriptionService } from './subscriptions/topic-subscription.service';

const REDIS = Symbol('GatewayRedis');

/** Closes the module's own Redis client (the platform's clients are the platform's to close). */
@Injectable()
class GatewayRedisLifecycle implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis | null) {}

  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }
}

/**
 * The public push API (`/push/public/api/v1`). Needs `MessageBus`, `RateLimiter` and `Clock` from
 * the platform, and `MessageStatusReader`, `MessageListReader`, `ProjectStatsReader` and `RegistrationReader` too unless
 * `pushCoreUrl` is given.
 */
@Module({})
export class GatewayModule {
  static register(options: GatewayModuleOptions): DynamicModule {
    checkLimit('rate limit', options.rateLimit);
    // The bounds auth accepts for its own setting (auth-options.ts): the two must be equal.
    const ttl = options.accessTokenTtlSeconds;
    if (!Number.isInteger(ttl) || ttl < 60 || ttl > 86_400) throw new Error(`gateway accessTokenTtlSeconds must be an integer between 60 and 86400 (got ${ttl})`);
    if (options.ipRateLimit) checkLimit('IP rate limit', options.ipRateLimit);
    const jwksUrl = new URL(options.jwksUrl);
    const providers: Provider[] = [
      { provide: GATEWAY_OPTIONS, useValue: options },
      BusClient,
      {
        provide: AccessTokenVerifier,
        inject: [Clock],
        useFactory: (clock: Clock) =>
          new AccessTokenVerifier(createRemoteJWKSet(jwksUrl), { issuer: options.issuer, audience: options.audience, accessTokenTtlSeconds: ttl }, clock),
      },
      {
        provide: REDIS,
        useFactory: () => {
          if (!options.redisUrl) return null;
          const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: true, enableAutoPipelining: true });
          // Errors surface on the commands (as 503); the client reconnects by itself.
          redis.on('error', () => undefined);
          return redis;
        },
      },
      GatewayRedisLifecycle,
      {
        provide: IdempotencyStore,
        inject: [REDIS, Clock],
        useFactory: (redis: Redis | null, clock: Clock) => (redis ? new RedisIdempotencyStore(redis) : new MemoryIdempotencyStore(clock)),
      },
      RequestAuthorizer,
      AccessGuard,
      RequestLimits,
      ProjectRegistryView,
      AcceptedPublisher,
      SendMessageService,
      SendRoute,
      MulticastService,
      TopicSubscriptionService,
      MessageCancelService,
      RegistrationManagementService,
      PublicApiSetup,
    ];
    if (options.pushCoreUrl) {
      providers.push(
        { provide: MessageStatusReader, useValue: new HttpMessageStatusReader(options.pushCoreUrl) },
        { provide: ProjectStatsReader, useValue: new HttpProjectStatsReader(options.pushCoreUrl) },
        { provide: RegistrationReader, useValue: new HttpRegistrationReader(options.pushCoreUrl) },
        { provide: MessageListReader, useValue: new HttpMessageListReader(options.pushCoreUrl) },
      );
    }
    return { module: GatewayModule, controllers: [PushApiController, ApiDocsController, RegistryEventsController], providers };
  }
}

function checkLimit(name: string, { perSecond, burst }: BucketLimit): void {
  if (!(perSecond > 0) || !(burst >= 1)) throw new Error(`gateway ${name} must be positive (perSecond ${perSecond}, burst ${burst})`);
}

import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { Clock } from '@borealis/util';
import { createRemoteJWKSet } from 'jose';
import { AccessGuard } from './access/access.guard';
import { AccessTokenVerifier } from './access/access-token-verifier';
import { GATEWAY_OPTIONS, type GatewayModuleOptions } from './gateway-options';
import { PushApiController } from './push-api.controller';
import { ProjectRegistryView } from './registry/project-registry.view';
import { SendMessageService } from './send/send-message.service';
import { HttpMessageStatusReader, MessageStatusReader } from './status/message-status-reader';

/**
 * The public push API (`/push/public/api/v1`). Needs `MessageBus`, `RateLimiter` and `Clock` from
 * the platform, and `MessageStatusReader` too unless `pushCoreUrl` is given.
 */
@Module({})
export class GatewayModule {
  static register(options: GatewayModuleOptions): DynamicModule {
    const { perSecond, burst } = options.rateLimit;
    if (!(perSecond > 0) || !(burst >= 1)) {
      throw new Error(`gateway rate limit must be positive (perSecond ${perSecond}, burst ${burst})`);
    }
    const jwksUrl = new URL(options.jwksUrl);
    const providers: Provider[] = [
      { provide: GATEWAY_OPTIONS, useValue: options },
      {
        provide: AccessTokenVerifier,
        inject: [Clock],
        useFactory: (clock: Clock) =>
          new AccessTokenVerifier(createRemoteJWKSet(jwksUrl), { issuer: options.issuer, audience: options.audience }, clock),
      },
      AccessGuard,
      ProjectRegistryView,
      SendMessageService,
    ];
    if (options.pushCoreUrl) providers.push({ provide: MessageStatusReader, useValue: new HttpMessageStatusReader(options.pushCoreUrl) });
    return { module: GatewayModule, controllers: [PushApiController], providers };
  }
}

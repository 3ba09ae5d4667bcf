import { Controller, Get, Header, Inject } from '@nestjs/common';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';
import { SERVICE_ACCOUNT_SCOPES } from '../scopes';
import { SigningKeys, type PublicJwk } from './signing-keys';

/** Authorization server metadata (RFC 8414 fields under the OpenID discovery path) and the JWKS. */
@Controller('auth/public/.well-known')
export class WellKnownController {
  private readonly configuration: Record<string, unknown>;

  constructor(
    private readonly signingKeys: SigningKeys,
    @Inject(AUTH_OPTIONS) options: AuthModuleOptions,
  ) {
    this.configuration = {
      issuer: options.issuer,
      token_endpoint: options.tokenUrl,
      jwks_uri: `${options.issuer.replace(/\/+$/, '')}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256'],
      scopes_supported: SERVICE_ACCOUNT_SCOPES,
    };
  }

  /** Short caching: verifiers refetch on an unknown `kid` anyway, and rotation must show soon. */
  @Get('jwks.json')
  @Header('Cache-Control', 'public, max-age=60')
  jwks(): Promise<{ keys: PublicJwk[] }> {
    return this.signingKeys.jwks();
  }

  @Get('openid-configuration')
  @Header('Cache-Control', 'public, max-age=300')
  openidConfiguration(): Record<string, unknown> {
    return this.configuration;
  }
}

export interface AuthModuleOptions {
  /** auth's own PostgreSQL database. */
  databaseUrl: string;
  /** `iss` of access tokens, e.g. http://127.0.0.1:8080/auth/public */
  issuer: string;
  /** The public token URL, e.g. http://127.0.0.1:8080/auth/public/oauth2/token */
  tokenUrl: string;
  /** Resource servers tokens may be issued for; the first is the default (e.g. ['borealis-push']). */
  audiences: string[];
  accessTokenTtlSeconds: number;
  /** Operator bearer token for the admin API (at least 32 characters). */
  adminToken: string;
  /** `api_url` written into project settings files, e.g. http://127.0.0.1:8080/push/public/api/v1/ */
  publicApiUrl: string;
  /** Device address written into project settings files, e.g. tcp://127.0.0.1:5228 */
  pushPublicAddress: string;
}

export const AUTH_OPTIONS = Symbol('AUTH_OPTIONS');

/** Programming or configuration mistakes in the options fail the start, naming the option. */
export function checkAuthOptions(options: AuthModuleOptions): void {
  const problems: string[] = [];
  if (!options.databaseUrl) problems.push('databaseUrl is required');
  for (const name of ['issuer', 'tokenUrl', 'publicApiUrl'] as const) {
    if (!URL.canParse(options[name])) problems.push(`${name} must be an absolute URL`);
  }
  if (!options.pushPublicAddress) problems.push('pushPublicAddress is required');
  if (options.audiences.length === 0 || options.audiences.some((a) => a.trim() === '')) {
    problems.push('audiences must list at least one non-empty audience');
  }
  if (!Number.isInteger(options.accessTokenTtlSeconds) || options.accessTokenTtlSeconds < 60 || options.accessTokenTtlSeconds > 86_400) {
    problems.push('accessTokenTtlSeconds must be an integer between 60 and 86400');
  }
  if (options.adminToken.length < 32) problems.push('adminToken must be at least 32 characters');
  if (problems.length > 0) throw new Error(`invalid auth options: ${problems.join('; ')}`);
}

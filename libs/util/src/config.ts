import type { z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Validates environment variables against a schema whose keys are the variable names. The error
 * names every bad variable and why, without echoing its value (it may be a secret).
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`);
  throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
}

const SECRET_NAME = /(SECRET|PASSWORD|TOKEN|KEY|CREDENTIAL)/i;

/** The configuration as it may be logged: secret-looking values and URL passwords masked. */
export function maskConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(config)) {
    if (value === undefined) continue;
    if (SECRET_NAME.test(name)) out[name] = '***';
    else if (typeof value === 'string' && /^[a-z]+:\/\/[^/]*:[^@/]*@/i.test(value)) out[name] = value.replace(/:\/\/([^:/]*):[^@/]*@/, '://$1:***@');
    else out[name] = value;
  }
  return out;
}

import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** An Aurora project settings file, as the console hands it to a developer. */
export interface ProjectSettings {
  projectId: string;
  /** Where devices connect; not needed by an app server, kept for tools that show it. */
  pushPublicAddress: string | null;
  /** Base of the push API, e.g. `https://HOST/push/public/api/v1/`. */
  apiUrl: string;
  clientId: string;
  /** Space-separated scopes to request, e.g. `openid offline message:update project:read`. */
  scopes: string;
  audience: string;
  tokenUrl: string;
  /** PEM, RSA. */
  privateKey: string;
  keyId: string;
}

export class ProjectSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProjectSettingsError';
  }
}

const ROOT = 'push_notification_system';

/** Reads and validates a settings file; the error names the file and every bad field. */
export function loadProjectSettings(path: string): ProjectSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ProjectSettingsError(`cannot read project settings ${path}: ${(err as Error).message}`);
  }
  return parseProjectSettings(text, path);
}

export function parseProjectSettings(text: string, source = 'project settings'): ProjectSettings {
  let document: unknown;
  try {
    document = parse(text);
  } catch (err) {
    throw new ProjectSettingsError(`${source} is not valid YAML: ${(err as Error).message}`);
  }
  const root = isObject(document) ? document[ROOT] : undefined;
  if (!isObject(root)) throw new ProjectSettingsError(`${source}: the root key ${ROOT} is missing`);

  const problems: string[] = [];
  const field = (name: string, check?: (value: string) => string | null): string => {
    const value = root[name];
    if (value === undefined || value === null || value === '') problems.push(`${ROOT}.${name} is missing`);
    else if (typeof value !== 'string') problems.push(`${ROOT}.${name} must be a string`);
    else {
      const problem = check?.(value);
      if (problem) problems.push(`${ROOT}.${name} ${problem}`);
      return value;
    }
    return '';
  };

  const settings: ProjectSettings = {
    projectId: field('project_id'),
    pushPublicAddress: typeof root['push_public_address'] === 'string' ? root['push_public_address'] : null,
    apiUrl: field('api_url', httpUrl),
    clientId: field('client_id'),
    scopes: scopes(root['scopes'], problems),
    audience: field('audience'),
    tokenUrl: field('token_url', httpUrl),
    privateKey: field('private_key', rsaPrivateKey),
    keyId: field('key_id'),
  };
  if (problems.length > 0) throw new ProjectSettingsError(`${source}: ${problems.join('; ')}`);
  return settings;
}

/** Aurora writes scopes as one space-separated string; a YAML list is accepted too. */
function scopes(value: unknown, problems: string[]): string {
  if (typeof value === 'string' && value.trim() !== '') return value.trim().split(/\s+/).join(' ');
  if (Array.isArray(value) && value.length > 0 && value.every((s) => typeof s === 'string' && s.trim() !== '')) return value.join(' ');
  problems.push(value === undefined || value === null ? `${ROOT}.scopes is missing` : `${ROOT}.scopes must be a space-separated string of scopes`);
  return '';
}

function httpUrl(value: string): string | null {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? null : 'must be an http(s) URL';
  } catch {
    return 'must be an http(s) URL';
  }
}

function rsaPrivateKey(value: string): string | null {
  try {
    return createPrivateKey(value).asymmetricKeyType === 'rsa' ? null : 'must be an RSA key';
  } catch {
    return 'must be a PEM RSA private key';
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

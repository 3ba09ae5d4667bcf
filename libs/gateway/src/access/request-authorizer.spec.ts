import { ErrorCode } from '@borealis/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestLimits } from '../rate-limit/request-limits';
import type { ProjectRegistryView } from '../registry/project-registry.view';
import { RequestAuthorizer } from './access.guard';
import type { AccessPrincipal, AccessTokenVerifier } from './access-token-verifier';

/** The authorizer's decisions for each kind of principal (the verifier's checks are its own spec's). */
describe("RequestAuthorizer: auth's console send token is good for the send route only", () => {
  const consoleSend: AccessPrincipal = { kind: 'console-send', projectId: 'p1', clientId: 'console:acc-1', keyId: '', scopes: new Set(['console:send']) };
  const client: AccessPrincipal = { kind: 'client', projectId: 'p1', clientId: 'c1', keyId: 'k1', scopes: new Set(['message:update', 'project:read']) };
  let inactive: Set<string>;
  let keyChecks: AccessPrincipal[];

  function authorizer(principal: AccessPrincipal) {
    const verifier = { verify: async () => principal, remembered: () => principal } as unknown as AccessTokenVerifier;
    const registry = {
      assertKeyValid: (p: AccessPrincipal) => void keyChecks.push(p),
      assertActive: (projectId: string) => {
        if (inactive.has(projectId)) throw Object.assign(new Error('inactive'), { code: ErrorCode.PermissionDenied });
      },
    } as unknown as ProjectRegistryView;
    const limits = { takeIp: async () => undefined } as unknown as RequestLimits;
    return new RequestAuthorizer(verifier, registry, limits);
  }
  const request = (projectId = 'p1') => ({ ip: '10.0.0.1', headers: { authorization: 'Bearer t' }, params: { projectId } }) as unknown as FastifyRequest;
  const reply = () => ({ header: jest.fn() }) as unknown as FastifyReply;

  beforeEach(() => {
    inactive = new Set();
    keyChecks = [];
  });

  it('lets it send where the route says so, for its own project, while the project is active', async () => {
    await expect(authorizer(consoleSend).authorize(request(), reply(), 'message:update', { consoleSend: true })).resolves.toBeUndefined();
    await expect(authorizer(consoleSend).authorize(request('p2'), reply(), 'message:update', { consoleSend: true })).rejects.toMatchObject({ code: ErrorCode.PermissionDenied });
    inactive.add('p1');
    await expect(authorizer(consoleSend).authorize(request(), reply(), 'message:update', { consoleSend: true })).rejects.toMatchObject({ code: 'permission_denied' });
  });

  it('is no token at all on any other route: multicast, cancel, reads (401)', async () => {
    await expect(authorizer(consoleSend).authorize(request(), reply(), 'message:update')).rejects.toMatchObject({ code: ErrorCode.Unauthenticated, message: 'the access token is not valid' });
    await expect(authorizer(consoleSend).authorize(request(), reply(), 'project:read')).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
    await expect(authorizer(consoleSend).authorize(request(), reply(), 'project:read', { consoleSend: true })).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
  });

  it('never takes the fast path (which skips no check, but is only for app servers\' remembered tokens)', () => {
    expect(authorizer(consoleSend).passesWithoutIpLimit(request(), 'message:update')).toBe(false);
    expect(authorizer(client).passesWithoutIpLimit(request(), 'message:update')).toBe(true);
  });

  it("checks an app server's token as before: its key against the registry view, and its scopes", async () => {
    await expect(authorizer(client).authorize(request(), reply(), 'message:update', { consoleSend: true })).resolves.toBeUndefined();
    expect(keyChecks).toEqual([client]);
    const readOnly: AccessPrincipal = { ...client, scopes: new Set(['project:read']) };
    await expect(authorizer(readOnly).authorize(request(), reply(), 'message:update', { consoleSend: true })).rejects.toMatchObject({ code: ErrorCode.PermissionDenied });
  });
});

import { ErrorCode, type RegistryEventV1 } from '@borealis/contracts';
import { FixedClock } from '@borealis/util';
import type { AccessPrincipal } from '../access/access-token-verifier';
import { ProjectRegistryView } from './project-registry.view';

const principal = (keyId: string, projectId = 'p1', clientId = 'c1'): AccessPrincipal => ({ kind: 'client', projectId, clientId, keyId, scopes: new Set() });
const key = (id: string, fields: { revokedAtMs?: number | null; expiresAtMs?: number | null; updatedAtMs?: number; projectId?: string }): RegistryEventV1 => ({
  kind: 'service-account-key',
  key: { id, clientId: 'c1', projectId: fields.projectId ?? 'p1', revokedAtMs: fields.revokedAtMs ?? null, expiresAtMs: fields.expiresAtMs ?? null, createdAtMs: 1, updatedAtMs: fields.updatedAtMs ?? 2 },
});

async function setup() {
  const clock = new FixedClock(10_000);
  const view = new ProjectRegistryView(clock);
  // The view as RegistryEventsController feeds it (the gateway's integration test goes through the bus).
  const publish = (...events: RegistryEventV1[]) => view.apply(events);
  return { view, clock, publish };
}

describe('ProjectRegistryView', () => {
  it('refuses tokens of revoked, expired or foreign keys and accepts the others', async () => {
    const { view, clock, publish } = await setup();
    await publish(key('live', {}), key('revoked', { revokedAtMs: 9_000 }), key('expiring', { expiresAtMs: 20_000 }), key('foreign', { projectId: 'p2' }));
    expect(() => view.assertKeyValid(principal('live'))).not.toThrow();
    expect(() => view.assertKeyValid(principal('unknown'))).not.toThrow();
    expect(() => view.assertKeyValid(principal('revoked'))).toThrow(expect.objectContaining({ code: ErrorCode.Unauthenticated, message: 'the access token was obtained with a revoked key' }));
    expect(() => view.assertKeyValid(principal('foreign'))).toThrow(expect.objectContaining({ code: ErrorCode.Unauthenticated }));
    expect(() => view.assertKeyValid(principal('expiring'))).not.toThrow();
    clock.advance(10_000);
    expect(() => view.assertKeyValid(principal('expiring'))).toThrow(expect.objectContaining({ message: 'the access token was obtained with an expired key' }));
  });

  it('keeps the newest state of a key when an older one is replayed', async () => {
    const { view, publish } = await setup();
    await publish(key('k', { revokedAtMs: 5_000, updatedAtMs: 9 }), key('k', { updatedAtMs: 3 }));
    expect(() => view.assertKeyValid(principal('k'))).toThrow(expect.objectContaining({ code: ErrorCode.Unauthenticated }));
  });

  it('refuses inactive projects and passes unknown ones', async () => {
    const { view, publish } = await setup();
    await publish({ kind: 'project', project: { id: 'off', tenantId: 't', name: 'off', isActive: false, serviceAccount: null, createdAtMs: 1, updatedAtMs: 2 } });
    expect(() => view.assertActive('off')).toThrow(expect.objectContaining({ code: ErrorCode.PermissionDenied, message: 'project off is inactive' }));
    expect(() => view.assertActive('unknown')).not.toThrow();
  });
});

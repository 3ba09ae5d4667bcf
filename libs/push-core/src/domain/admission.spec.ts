import type { MessageAcceptedV1 } from '@borealis/contracts';
import { admit } from './admission';

function message(target: MessageAcceptedV1['target'], expiresAtMs = 10_000): MessageAcceptedV1 {
  return {
    messageId: 'm1',
    projectId: 'p1',
    target,
    notification: { title: 't', message: 'm', data: null },
    ttlSeconds: 10,
    priority: 'normal',
    collapseKey: null,
    acceptedAtMs: 0,
    expiresAtMs,
  };
}

const device = { type: 'device', value: 'r1' } as const;

describe('admit', () => {
  it('stores a live message for an active project', () => {
    expect(admit(message(device), { projectActive: true, nowMs: 5_000 })).toEqual({ outcome: 'stored' });
  });

  it('fails a message for an unknown or inactive project', () => {
    expect(admit(message(device), { projectActive: undefined, nowMs: 0 })).toMatchObject({ outcome: 'failed', reason: 'project unknown' });
    expect(admit(message(device), { projectActive: false, nowMs: 0 })).toMatchObject({ outcome: 'failed', reason: 'project inactive' });
  });

  it('expires a message whose expiry has passed', () => {
    expect(admit(message(device, 5_000), { projectActive: true, nowMs: 5_000 })).toMatchObject({ outcome: 'expired' });
  });

  it('checks the application of an application target', () => {
    const target = { type: 'application', value: 'a1' } as const;
    expect(admit(message(target), { projectActive: true, applicationActive: undefined, nowMs: 0 })).toMatchObject({ outcome: 'failed' });
    expect(admit(message(target), { projectActive: true, applicationActive: false, nowMs: 0 })).toMatchObject({ outcome: 'failed' });
    expect(admit(message(target), { projectActive: true, applicationActive: true, nowMs: 0 })).toEqual({ outcome: 'stored' });
  });

  it('checks the name of a topic target', () => {
    expect(admit(message({ type: 'topic', value: 'news/sport' }), { projectActive: true, nowMs: 0 })).toMatchObject({ outcome: 'failed', reason: 'invalid topic name' });
    expect(admit(message({ type: 'topic', value: 'news.sport' }), { projectActive: true, nowMs: 0 })).toEqual({ outcome: 'stored' });
  });
});

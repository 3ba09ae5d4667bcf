import type { DeliveryState } from '@borealis/contracts';
import { aggregateState, countByState } from './message-status';

const counts = (...states: DeliveryState[]) => countByState(states.map((s) => [s, 1] as const));

describe('message status aggregation', () => {
  it('counts every state, with zeros', () => {
    expect(counts('pending', 'sent', 'sent')).toEqual({ pending: 1, sent: 2, delivered: 0, expired: 0, failed: 0, cancelled: 0 });
    expect(counts()).toEqual({ pending: 0, sent: 0, delivered: 0, expired: 0, failed: 0, cancelled: 0 });
    expect(countByState([['expired', 3], ['pending', 2], ['expired', 1]])).toMatchObject({ expired: 4, pending: 2 });
  });

  it('is cancelled once cancelled, whatever its recipients reached before', () => {
    expect(aggregateState('stored', counts('cancelled', 'delivered', 'delivered'), true)).toBe('cancelled');
    expect(aggregateState('stored', counts(), true)).toBe('cancelled');
    expect(aggregateState('failed', counts(), true)).toBe('failed');
  });

  it('reports the message outcome when the message itself failed or expired', () => {
    expect(aggregateState('failed', counts())).toBe('failed');
    expect(aggregateState('expired', counts())).toBe('expired');
    expect(aggregateState('failed', counts('delivered'))).toBe('failed');
  });

  it('is stored with no recipients or while any recipient is pending', () => {
    expect(aggregateState('stored', counts())).toBe('stored');
    expect(aggregateState('stored', counts('pending', 'sent', 'delivered'))).toBe('stored');
  });

  it('is sent while any recipient is sent and none pending', () => {
    expect(aggregateState('stored', counts('sent', 'delivered', 'delivered'))).toBe('sent');
  });

  it('is the most common terminal state otherwise, delivered winning ties', () => {
    expect(aggregateState('stored', counts('delivered'))).toBe('delivered');
    expect(aggregateState('stored', counts('expired', 'expired', 'delivered'))).toBe('expired');
    expect(aggregateState('stored', counts('failed', 'failed', 'expired'))).toBe('failed');
    expect(aggregateState('stored', counts('failed', 'delivered'))).toBe('delivered');
    expect(aggregateState('stored', counts('failed', 'expired'))).toBe('expired');
  });
});

import { DeliveryState } from '@borealis/contracts';
import { canTransition, Delivery, effectiveState, isTerminal, OPEN_STATES, statesThatCanBecome } from './delivery-state';

describe('delivery state machine', () => {
  it('has exactly four terminal states', () => {
    expect(DeliveryState.options.filter(isTerminal).sort()).toEqual(['cancelled', 'delivered', 'expired', 'failed']);
  });

  it('never leaves a terminal state', () => {
    for (const from of DeliveryState.options.filter(isTerminal)) {
      for (const to of DeliveryState.options) expect(canTransition(from, to)).toBe(false);
    }
  });

  it('moves forward from pending and sent, and back from sent to pending (not_held)', () => {
    expect(canTransition(Delivery.pending, Delivery.sent)).toBe(true);
    expect(canTransition(Delivery.pending, Delivery.delivered)).toBe(true);
    expect(canTransition(Delivery.sent, Delivery.delivered)).toBe(true);
    expect(canTransition(Delivery.sent, Delivery.pending)).toBe(true);
    expect(canTransition(Delivery.pending, Delivery.pending)).toBe(false);
    expect(canTransition(Delivery.sent, Delivery.sent)).toBe(false);
  });

  it('derives UPDATE guards from the transition table', () => {
    expect(statesThatCanBecome(Delivery.sent)).toEqual(['pending']);
    expect(statesThatCanBecome(Delivery.delivered)).toEqual(['pending', 'sent']);
    expect(statesThatCanBecome(Delivery.pending)).toEqual(['sent']);
    // A cancel stops what has not been acknowledged; delivered recipients keep their state.
    expect(statesThatCanBecome(Delivery.cancelled)).toEqual(['pending', 'sent']);
  });

  it('calls pending and sent open', () => {
    expect(OPEN_STATES).toEqual(['pending', 'sent']);
  });

  it('treats an open delivery past its expiry as expired, and leaves terminal ones alone', () => {
    expect(effectiveState(Delivery.pending, true)).toBe('expired');
    expect(effectiveState(Delivery.sent, true)).toBe('expired');
    expect(effectiveState(Delivery.pending, false)).toBe('pending');
    expect(effectiveState(Delivery.delivered, true)).toBe('delivered');
    expect(effectiveState(Delivery.failed, true)).toBe('failed');
    expect(effectiveState(Delivery.cancelled, true)).toBe('cancelled');
  });
});

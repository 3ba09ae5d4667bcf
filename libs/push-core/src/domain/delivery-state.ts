import { DeliveryState } from '@borealis/contracts';

/** The delivery lifecycle (DESIGN.md §5); the states are the contract's `DeliveryState` enum. */
export const Delivery = DeliveryState.enum;

const NEXT: Readonly<Record<DeliveryState, readonly DeliveryState[]>> = {
  pending: ['sent', 'delivered', 'expired', 'failed', 'cancelled'],
  // `not_held` sends a written-out delivery back to pending; the device may still ack it meanwhile.
  sent: ['pending', 'delivered', 'expired', 'failed', 'cancelled'],
  delivered: [],
  expired: [],
  failed: [],
  cancelled: [],
};

export function isTerminal(state: DeliveryState): boolean {
  return NEXT[state].length === 0;
}

export function canTransition(from: DeliveryState, to: DeliveryState): boolean {
  return NEXT[from].includes(to);
}

/** The states a delivery may be in for a move to `to` to apply (the guard of a set-based UPDATE). */
export function statesThatCanBecome(to: DeliveryState): DeliveryState[] {
  return DeliveryState.options.filter((from) => canTransition(from, to));
}

/** States from which the device may still get the message: resent when it reconnects. */
export const OPEN_STATES: readonly DeliveryState[] = DeliveryState.options.filter((s) => !isTerminal(s));

/** An open delivery whose TTL has passed is expired, whether or not that has been recorded yet. */
export function effectiveState(state: DeliveryState, pastExpiry: boolean): DeliveryState {
  return pastExpiry && !isTerminal(state) ? Delivery.expired : state;
}

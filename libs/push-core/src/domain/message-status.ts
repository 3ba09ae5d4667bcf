import { DeliveryState, type MessageState } from '@borealis/contracts';

/** What push-core recorded for the message itself when it took it in. */
export type MessageOutcome = Extract<MessageState, 'stored' | 'expired' | 'failed'>;

export type StateCounts = Record<DeliveryState, number>;

/** Sums (state, count) pairs into a count for every state, zeros included. */
export function countByState(entries: Iterable<readonly [DeliveryState, number]>): StateCounts {
  const counts = Object.fromEntries(DeliveryState.options.map((s) => [s, 0])) as StateCounts;
  for (const [state, n] of entries) counts[state] += n;
  return counts;
}

/** Tie-break among terminal states: the most favourable outcome wins. */
const TERMINAL_PREFERENCE = ['delivered', 'expired', 'failed'] as const;

/**
 * The aggregate state of a message: its own outcome when it failed or expired as a whole;
 * `cancelled` once an app server cancelled it (recipients delivered before keep their state in
 * the counts); else `stored` while any recipient is pending (or there are none), `sent` while any
 * is sent, and otherwise the terminal state most recipients reached.
 */
export function aggregateState(outcome: MessageOutcome, counts: StateCounts, cancelled = false): MessageState {
  if (outcome !== 'stored') return outcome;
  if (cancelled) return 'cancelled';
  if (counts.pending > 0 || DeliveryState.options.every((s) => counts[s] === 0)) return 'stored';
  if (counts.sent > 0) return 'sent';
  let best: (typeof TERMINAL_PREFERENCE)[number] = TERMINAL_PREFERENCE[0];
  for (const state of TERMINAL_PREFERENCE) if (counts[state] > counts[best]) best = state;
  return best;
}

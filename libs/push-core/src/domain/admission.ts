import type { MessageAcceptedV1 } from '@borealis/contracts';
import { deliveryExpiry } from './expiry';
import type { MessageOutcome } from './message-status';
import { isValidTopicName } from './topic-name';

/** What push-core's registry view says about an accepted message's project (and application). */
export interface AdmissionFacts {
  /** undefined: the project is not in the view. */
  projectActive: boolean | undefined;
  /** For `application` targets: the application in this project; undefined when it is not there. */
  applicationActive?: boolean | undefined;
  nowMs: number;
}

export type Admission = { outcome: 'stored' } | { outcome: Exclude<MessageOutcome, 'stored'>; reason: string };

/**
 * Full validation of an accepted message before recipients are resolved. The gateway already
 * acknowledged it, so a message that cannot be delivered is recorded as failed (its status says
 * so) rather than dropped.
 */
export function admit(message: MessageAcceptedV1, facts: AdmissionFacts): Admission {
  if (facts.projectActive === undefined) return { outcome: 'failed', reason: 'project unknown' };
  if (!facts.projectActive) return { outcome: 'failed', reason: 'project inactive' };
  const { type, value } = message.target;
  if (type === 'application') {
    if (facts.applicationActive === undefined) return { outcome: 'failed', reason: 'application unknown in this project' };
    if (!facts.applicationActive) return { outcome: 'failed', reason: 'application inactive' };
  }
  if (type === 'topic' && !isValidTopicName(value)) return { outcome: 'failed', reason: 'invalid topic name' };
  if (deliveryExpiry(message) <= facts.nowMs) return { outcome: 'expired', reason: 'expired before it was stored' };
  return { outcome: 'stored' };
}

/** Topic names as FCM allows them: letters, digits and `-_.~%`, at most 256 characters. */
const TOPIC_NAME = /^[A-Za-z0-9_.~%-]{1,256}$/;

export function isValidTopicName(name: string): boolean {
  return TOPIC_NAME.test(name);
}

/** Subscriptions one registration may hold; keeps a misbehaving app from growing the table unbounded. */
export const MAX_TOPICS_PER_REGISTRATION = 2000;

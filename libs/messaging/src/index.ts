export * from './message-bus';
export { Correlation, REQUEST_ID_HEADER, type RequestContext } from './context';
export { NO_BUS_OBSERVER, type BusObserver } from './observer';
export { InProcessMessageBus } from './in-process-bus';
export { KafkaMessageBus, type KafkaBusOptions } from './kafka-bus';
export { KafkaConnectionError, KafkaRecordTooLargeError, KafkaTimeoutError, KafkaTlsError, KafkaUnsupportedVersionError, type KafkaTlsOptions } from './kafka-producer';
export { KafkaAuthenticationError, type KafkaSaslMechanism, type KafkaSaslOptions } from './kafka-sasl';

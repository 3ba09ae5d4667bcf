export * from './message-bus';
export { InProcessMessageBus } from './in-process-bus';
export { KafkaMessageBus, type KafkaBusOptions } from './kafka-bus';

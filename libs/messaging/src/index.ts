export * from './message-bus';
export { Correlation, REQUEST_ID_HEADER, type RequestContext } from './context';
export { NO_BUS_OBSERVER, type BusObserver } from './observer';
export { InProcessMessageBus } from './in-process-bus';
export { KafkaMessageBus, type KafkaBusOptions } from './kafka-bus';

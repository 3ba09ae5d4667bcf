'use strict';
// TEST ONLY. Preloaded into service processes that end-to-end tests spawn
// (NODE_OPTIONS="--require <absolute path of this file>"); production code never loads it.
//
// It patches kafkajs 2.2.4 at runtime around two bugs of the Kafka-protocol test broker (the
// librdkafka mock cluster that kcat starts), so that several members can share a consumer group:
// - the mock's metadata names a controller id (0) that is none of its brokers, so everything that
//   asks the controller fails with "Broker 0 not found": fall back to the lowest broker id, as a
//   single-controller cluster would have it. Then the idempotent producer's InitProducerId works
//   (checked by hand); the mock still answers CreateTopics, DeleteTopics and CreatePartitions with
//   "unsupported version", so tests keep relying on auto-created topics;
// - the mock rejects a follower's SyncGroup when the leader's SyncGroup arrives before the
//   followers' JoinGroups have settled, and kafkajs then stops consuming without a word: the
//   group leader waits LEADER_SYNC_DELAY_MS before its SyncGroup.
// A kafkajs other than 2.2.4 fails loudly: the patches reach into its private structure.
const kafkajsPackage = require('kafkajs/package.json');
const Cluster = require('kafkajs/src/cluster');
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup');

const PATCHED_VERSION = '2.2.4';
const LEADER_SYNC_DELAY_MS = 250;

if (kafkajsPackage.version !== PATCHED_VERSION) {
  throw new Error(`kafka-mock-preload patches kafkajs ${PATCHED_VERSION}, found ${kafkajsPackage.version}`);
}

const findControllerBroker = Cluster.prototype.findControllerBroker;
Cluster.prototype.findControllerBroker = async function findControllerBrokerOrLowest() {
  const metadata = this.brokerPool.metadata;
  const brokers = (metadata && metadata.brokers) || [];
  if (metadata && metadata.controllerId != null && brokers.length > 0 && !brokers.some((b) => b.nodeId === metadata.controllerId)) {
    return this.findBroker({ nodeId: Math.min(...brokers.map((b) => b.nodeId)) });
  }
  return findControllerBroker.call(this);
};

const sync = Object.getOwnPropertySymbols(ConsumerGroup.prototype).find((s) => s.description === 'private:ConsumerGroup:sync');
if (!sync) throw new Error('kafka-mock-preload: ConsumerGroup has no private sync method (kafkajs changed)');
const originalSync = ConsumerGroup.prototype[sync];
ConsumerGroup.prototype[sync] = async function leaderSyncsLate() {
  if (this.isLeader()) await new Promise((resolve) => setTimeout(resolve, LEADER_SYNC_DELAY_MS));
  return originalSync.call(this);
};

#!/bin/sh
# Creates every Borealis topic (libs/contracts/src/topics.ts) on the compose stack's broker,
# idempotently. Partitions and replication come from the environment; the broker's automatic topic
# creation is off, so a topic missing here is an error, not a surprise.
set -eu
BOOTSTRAP="${KAFKA_BOOTSTRAP:-kafka:9092}"
PARTITIONS="${TOPIC_PARTITIONS:-12}"
REPLICATION="${TOPIC_REPLICATION:-1}"
KT=/opt/kafka/bin/kafka-topics.sh

create() { # create NAME [extra kafka-topics.sh arguments]
  name="$1"; shift
  "$KT" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$name" \
    --partitions "$PARTITIONS" --replication-factor "$REPLICATION" "$@"
}

create borealis.push.message.accepted.v1
create borealis.push.subscription.requested.v1
create borealis.push.message.cancel.requested.v1
create borealis.push.registration.unregister.requested.v1
create borealis.transport.registration.requested.v1
create borealis.transport.device.event.v1
create borealis.transport.delivery.receipt.v1
create borealis.auth.registry.v1 --config cleanup.policy=compact
create borealis.deadletter.v1 --config retention.ms=1209600000
# One inbox per transport instance (TRANSPORT_INSTANCE_ID of each transport service).
for instance in ${TRANSPORT_INSTANCES:-transport-0 transport-1}; do
  create "borealis.transport.inbox.${instance}.v1"
done
"$KT" --bootstrap-server "$BOOTSTRAP" --list

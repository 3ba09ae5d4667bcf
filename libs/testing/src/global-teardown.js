// Jest globalTeardown (root jest.config.js): stops what global-setup.js started (the Kafka broker,
// the embedded PostgreSQL) and removes their temporary folders.
'use strict';

const fs = require('node:fs');
const { STATE_KEY } = require('./global-setup');

module.exports = async function globalTeardown() {
  const state = globalThis[STATE_KEY];
  if (!state) return;
  const { kafka, postgres } = state;
  state.kafka = undefined;
  state.postgres = undefined;
  if (state.brokers && process.env.KAFKA_BROKERS === state.brokers) {
    // Watch mode runs globalSetup again: let it start a fresh broker instead of reusing a dead one.
    delete process.env.KAFKA_BROKERS;
  }
  if (postgres && process.env.TEST_DATABASE_URL === postgres.url) delete process.env.TEST_DATABASE_URL;
  await Promise.all([
    kafka &&
      kafka.stop().then(() => {
        if (!process.env.BOREALIS_KEEP_TEST_KAFKA) fs.rmSync(kafka.dir, { recursive: true, force: true });
      }),
    postgres && postgres.stop(),
  ]);
};

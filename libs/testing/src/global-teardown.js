// Jest globalTeardown (root jest.config.js): stops the Kafka mock cluster started by global-setup.js.
'use strict';

const { STATE_KEY, killGroup } = require('./global-setup');

module.exports = async function globalTeardown() {
  const state = globalThis[STATE_KEY];
  if (!state || !state.kcat) return;
  const child = state.kcat;
  state.kcat = undefined;
  if (state.killOnExit) process.removeListener('exit', state.killOnExit);
  if (state.brokers && process.env.KAFKA_BROKERS === state.brokers) {
    // Watch mode runs globalSetup again: let it start a fresh broker instead of reusing a dead one.
    delete process.env.KAFKA_BROKERS;
  }
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  killGroup(child);
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, 2000);
  await exited;
  clearTimeout(timer);
};

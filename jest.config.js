// One Jest run, three kinds of test: *.spec.ts (units, no I/O), *.int.ts (adapters against the real
// PostgreSQL, Redis and Kafka-protocol broker) and *.e2e.ts (whole services as OS processes).
const swc = require('./.swcrc.json');

const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', { ...swc, exclude: [], sourceMaps: 'inline', module: { type: 'commonjs' } }] },
  // ESM-only packages Jest must transform: jose, and openid-client with its oauth4webapi (a test's OAuth client).
  transformIgnorePatterns: ['/node_modules/(?!(jose|openid-client|oauth4webapi)/)'],
  moduleNameMapper: { '^@borealis/(.*)$': '<rootDir>/libs/$1/src/index.ts' },
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/tmp/'],
};

module.exports = {
  globalSetup: '<rootDir>/libs/testing/src/global-setup.js',
  globalTeardown: '<rootDir>/libs/testing/src/global-teardown.js',
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/{apps,libs}/**/*.int.ts'],
      // Real services, RSA key generation and scrypt: 5 s is too tight on a busy 2-core machine.
      setupFilesAfterEnv: ['<rootDir>/libs/testing/src/integration-timeout.js'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/apps/**/*.e2e.ts'],
    },
  ],
};

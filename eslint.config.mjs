import nx from '@nx/eslint-plugin';

// Module boundaries: a project may depend only on what its tags allow (STYLE.md). Two dimensions:
// scope (which service or shared) and type (app, feature, data-access, contracts, util, sdk, testing).
const scopes = [
  { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
  { sourceTag: 'scope:auth', onlyDependOnLibsWithTags: ['scope:auth', 'scope:shared'] },
  { sourceTag: 'scope:gateway', onlyDependOnLibsWithTags: ['scope:gateway', 'scope:shared'] },
  { sourceTag: 'scope:push-core', onlyDependOnLibsWithTags: ['scope:push-core', 'scope:shared'] },
  { sourceTag: 'scope:transport', onlyDependOnLibsWithTags: ['scope:transport', 'scope:shared'] },
  { sourceTag: 'scope:sdk', onlyDependOnLibsWithTags: ['scope:sdk', 'scope:shared'] },
  { sourceTag: 'scope:runtime', onlyDependOnLibsWithTags: ['scope:runtime', 'scope:shared', 'scope:auth', 'scope:gateway', 'scope:push-core', 'scope:transport'] },
  { sourceTag: 'scope:cli', onlyDependOnLibsWithTags: ['scope:cli', 'scope:runtime', 'scope:sdk', 'scope:shared'] },
  // The web console (apps/console) runs in the browser: it may use the shared contracts' types only.
  { sourceTag: 'scope:console', onlyDependOnLibsWithTags: ['scope:console', 'scope:shared'] },
];
const types = (extra) => [
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:feature', 'type:data-access', 'type:contracts', 'type:util', 'type:sdk', ...extra] },
  { sourceTag: 'type:feature', onlyDependOnLibsWithTags: ['type:feature', 'type:data-access', 'type:contracts', 'type:util', ...extra] },
  { sourceTag: 'type:data-access', onlyDependOnLibsWithTags: ['type:data-access', 'type:contracts', 'type:util', ...extra] },
  { sourceTag: 'type:sdk', onlyDependOnLibsWithTags: ['type:sdk', 'type:contracts', 'type:util', ...extra] },
  { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util', ...extra] },
  { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts', ...extra] },
  { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:testing', 'type:data-access', 'type:contracts', 'type:util'] },
];
const boundaries = (extra) => [
  'error',
  {
    enforceBuildableLibDependency: false,
    allow: [],
    banTransitiveDependencies: false,
    depConstraints: [...scopes, ...types(extra)],
  },
];

export default [
  { ignores: ['**/node_modules/**', 'dist/**', 'tmp/**', '.data/**', '.nx/**', 'libs/contracts/src/generated/**', 'coverage/**', '.cache/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries([]),
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
      // Non-null assertions mark invariants the compiler cannot see (indexes checked just before).
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Consumers are @BusEventPattern handlers of Nest controllers (docs/adr/0001-messaging-port.md):
    // only the transport strategy subscribes to the bus. Tests may still subscribe to capture records.
    files: ['**/*.ts'],
    ignores: ['**/*.spec.ts', '**/*.int.ts', '**/*.e2e.ts', 'apps/*/e2e/**/*.ts', 'libs/messaging/src/nest/bus-transport.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='subscribe'][callee.object.name=/[bB]us$/], CallExpression[callee.property.name='subscribe'][callee.object.property.name=/[bB]us$/]",
          message: 'Consume with a @BusEventPattern handler on a controller (BusTransport subscribes it), not with bus.subscribe.',
        },
        {
          selector:
            "CallExpression[callee.property.name='subscribe']:not([callee.object.name=/[bB]us$/]):not([callee.object.property.name=/[bB]us$/]) > ObjectExpression:has(Property[key.name='handler']):has(Property[key.name='group'])",
          message: 'Consume with a @BusEventPattern handler on a controller (BusTransport subscribes it), not with a hand-wired subscription.',
        },
      ],
    },
  },
  {
    // Tests may use the testing library on top of what their project may use.
    files: ['**/*.spec.ts', '**/*.int.ts', '**/*.e2e.ts', 'apps/*/e2e/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(['type:testing']),
      'no-console': 'off',
    },
  },
  {
    // The console's components: the same rules as the rest, for .tsx too.
    files: ['apps/console/src/**/*.tsx'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries([]),
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // Browser code bundles only type imports from the libraries (the contracts' runtime pulls in
    // Node-only code): a value import would break the bundle or the CSP.
    files: ['apps/console/src/**/*.ts', 'apps/console/src/**/*.tsx'],
    ignores: ['apps/console/src/**/*.spec.ts'],
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: ['@borealis/*'], allowTypeImports: true, message: 'The console may import only types from the libraries.' }] }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
];

// Sources are ESM TypeScript run as-is by Node 24 (type stripping); jest runs them through swc
// in native-ESM mode so ESM-only dependencies (client-node 2.x, js-yaml 5) load unchanged.
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }];

const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  testEnvironment: 'node',
  // A guard against hangs, not a speed target: CI runs four projects on two busy cores, where a
  // binary's `--version` or `helm template` has taken longer than jest's default 5 s.
  testTimeout: 60_000,
};

export default {
  testTimeout: common.testTimeout,
  projects: [
    {
      ...common,
      // Pure: no cluster, no Prometheus, no external binary, no child process (`npm run test:fast`).
      displayName: 'unit',
      roots: ['<rootDir>/test/unit'],
      testMatch: ['**/*.test.ts'],
    },
    {
      ...common,
      // Our output checked by the real tools, and the CLI run as users run it: promtool and amtool
      // (every generation present, from the tool cache that scripts/setup.sh fills) and the
      // bin/qwen-operator shim. No cluster, but each file spawns processes: not unit tests.
      // (test/tools/ holds the scripts that build those tools; these are the tests that use them.)
      displayName: 'with-tools',
      roots: ['<rootDir>/test/with-tools'],
      testMatch: ['**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      roots: ['<rootDir>/test/integration'],
      testMatch: ['**/*.test.ts'],
      // One real control plane per `npm test` run, started only when an integration test runs.
      globalSetup: '<rootDir>/test/cluster/jest-global-setup.ts',
      globalTeardown: '<rootDir>/test/cluster/jest-global-teardown.ts',
    },
    {
      ...common,
      // The whole pipeline on real parts: Prometheus 3, Alertmanager, the worker serving the test
      // model, the operator on the test cluster (it starts its own, see test/e2e/support).
      displayName: 'e2e',
      roots: ['<rootDir>/test/e2e'],
      testMatch: ['**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'worker',
      roots: ['<rootDir>/worker/test'],
      testMatch: ['**/*.test.ts'],
    },
    {
      ...common,
      // The router package (router/): its own tests, with real worker processes where they need one.
      displayName: 'router',
      roots: ['<rootDir>/router/test'],
      testMatch: ['**/*.test.ts'],
    },
  ],
};

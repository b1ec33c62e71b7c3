import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * One config per directory: its imports may not match `group` (gitignore patterns; `!` allows).
 * Every operator directory also keeps out of the worker package but for its contract (a later
 * config replaces an earlier one's rule options for the same file, so each carries both).
 */
const WORKER = { regex: '(^|/)worker/(?!src/contract\\.ts$)', message: 'the operator imports only the worker contract (worker/src/contract.ts) from the worker package.' };
function layers(rules) {
  return rules.map(([files, group, message]) => ({
    files: [files],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group, message: `layering (ARCHITECTURE.md): ${message}.` }, ...(files.startsWith('src/') ? [WORKER] : [])] }] },
  }));
}

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'worker/node_modules/', 'worker/dist/', 'router/node_modules/', 'router/dist/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly', Buffer: 'readonly', AbortController: 'readonly', fetch: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The layering of ARCHITECTURE.md: each module imports only what is below it (api/, conventions.ts
  // and log.ts from everywhere). An import that runs back up fails here, with the rule it breaks.
  ...layers([
    ['src/**', ['../../**/*.ts', '!../../worker/src/contract.ts', '!../../router/src/contract.ts'], 'src/ imports nothing from outside src/ but the worker and router contracts'],
    ['worker/src/**', ['../../**'], 'the worker package imports nothing of the operator'],
    ['worker/src/contract.ts', ['*', '**', './**', '../**'], 'the worker contract is dependency-free: both packages import it'],
    ['router/src/**', ['../../**/*.ts', '../../**/*.js', '!../../worker/src/contract.ts'], 'the router package imports nothing of the operator, and of the worker only its contract'],
    ['src/kube/**', ['../**'], 'kube is a client library: it imports nothing of ours'],
    ['src/api/**', ['../**', '!../conventions.ts'], 'api/ (the schema) imports nothing above it'],
    ['src/sla/**', ['../plan/**', '../render/**', '../controller/**', '../slastatus/**', '../commands/**', '../cli.ts', '../rbac.ts'], 'sla/ is pure SLA -> PromQL: it knows no plan, renderer or loop'],
    ['src/sizing/**', ['../sla/**', '../plan/**', '../render/**', '../controller/**', '../slastatus/**', '../commands/**', '../cli.ts', '../rbac.ts'], 'sizing/ is GGUF header -> estimate -> SLAFeasible: it knows no SLO rule, plan, renderer or loop'],
    ['src/plan/**', ['../render/**', '../controller/**', '../slastatus/**', '../commands/**', '../cli.ts', '../rbac.ts'], 'the plan is below the renderers and the loops that read it'],
    ['src/render/**', ['../controller/**', '../slastatus/**', '../commands/**', '../cli.ts', '../rbac.ts'], 'renderers are pure: they know no loop'],
    // The controller reads the plan and the render entry point (render/index.ts) and shared names
    // (render/common.ts), never one renderer's internals.
    ['src/controller/**', ['../slastatus/**', '../commands/**', '../cli.ts', '../rbac.ts', '../render/*', '!../render/index.ts', '!../render/common.ts'], 'the controller reads the plan and render/index.ts, not a renderer, and does not know the SLA loop or the CLI'],
    ['src/slastatus/**', ['../commands/**', '../cli.ts', '../rbac.ts'], 'the SLA loop is wired by commands/, it does not import them'],
    ['src/conventions.ts', ['./**'], 'conventions.ts imports nothing of ours'],
  ]),
  {
    // The jest project `unit` (`npm run test:fast`) stays pure: no child process, no external tool.
    // Tests that spawn promtool, amtool or the CLI belong to test/with-tools (project `with-tools`).
    files: ['test/unit/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'node:child_process', message: 'unit tests spawn nothing: put this test under test/with-tools (or integration).' },
          { name: 'child_process', message: 'unit tests spawn nothing: put this test under test/with-tools (or integration).' },
        ],
        patterns: [
          { group: ['**/with-tools/**', '**/support/tools.ts'], message: 'unit tests use no external tool: put this test under test/with-tools.' },
        ],
      }],
    },
  },
);

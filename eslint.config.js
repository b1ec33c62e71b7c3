import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'worker/node_modules/', 'worker/dist/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly', Buffer: 'readonly', AbortController: 'readonly', fetch: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
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

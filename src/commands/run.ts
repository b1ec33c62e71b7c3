import type { Command } from './command.ts';

export const runCommand: Command = {
  summary: 'run the operator (not implemented yet)',
  help: 'Usage: qwen-operator run [options]',
  async run() {
    process.stderr.write('qwen-operator run: not implemented yet\n');
    return 2;
  },
};

import type { Command } from './command.ts';

export const renderCommand: Command = {
  summary: 'render the objects and rules generated for a QwenService (not implemented yet)',
  help: 'Usage: qwen-operator render -f FILE [--format kube|prometheus-rules|alertmanager|grafana] [--explain]',
  async run() {
    process.stderr.write('qwen-operator render: not implemented yet\n');
    return 2;
  },
};

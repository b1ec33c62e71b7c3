import { crdYaml } from '../api/crd.ts';
import { CliError, type Command } from './command.ts';

export const crdCommand: Command = {
  help: 'Usage: qwen-operator crd\n\nPrints the QwenService CRD as YAML, e.g. `qwen-operator crd | kubectl apply --server-side -f -`.',
  async run(args) {
    if (args.length) throw new CliError(`crd takes no arguments (got ${args.join(' ')})`);
    process.stdout.write(crdYaml());
    return 0;
  },
};

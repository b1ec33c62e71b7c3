#!/usr/bin/env node
// `qwen-operator`: the operator's single entry point. Each subcommand lives in src/commands/.
import { CliError, type Command } from './commands/command.ts';

// Loaded on demand: `validate` should not pay for the Kubernetes client `run` needs.
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  crd: { summary: 'print the QwenService CustomResourceDefinition (generated from the API schema)', load: async () => (await import('./commands/crd.ts')).crdCommand },
  validate: { summary: 'check QwenService YAML files and print every problem with its field path', load: async () => (await import('./commands/validate.ts')).validateCommand },
  render: { summary: 'print the objects, rules, routes and dashboard generated for a QwenService', load: async () => (await import('./commands/render.ts')).renderCommand },
  size: { summary: 'before deploying: the memory a QwenService\'s model needs and its decode-speed bound, per GPU product (SLAFeasible)', load: async () => (await import('./commands/size.ts')).sizeCommand },
  usage: { summary: 'what each tenant of each QwenService used (requests, tokens, cached share, refusals), from Prometheus', load: async () => (await import('./commands/usage.ts')).usageCommand },
  run: { summary: 'run the operator (reconcile QwenServices in a cluster)', load: async () => (await import('./commands/run.ts')).runCommand },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  return [
    'Usage: qwen-operator <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `qwen-operator <command> --help` for a command\'s options.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const entry = commands[name];
  if (!entry) {
    process.stderr.write(`qwen-operator: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`qwen-operator ${name}: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`qwen-operator: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

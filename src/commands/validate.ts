import { validateYaml } from '../api/validate.ts';
import { CliError, parseOptions, readInput, type Command } from './command.ts';

export const validateCommand: Command = {
  help: [
    'Usage: qwen-operator validate -f FILE [-f FILE ...]',
    '',
    'Validates every document of each file (multi-document YAML; `-` reads standard input).',
    'Prints each problem as `FILE: NAME: FIELD: MESSAGE`. Exits 0 when all are valid, 1 otherwise.',
  ].join('\n'),
  async run(args) {
    const { values } = parseOptions(args, { file: { type: 'string', short: 'f', multiple: true } });
    const files = values.file ?? [];
    if (files.length === 0) throw new CliError('missing -f FILE');
    let bad = 0, total = 0;
    for (const file of files) {
      for (const doc of validateYaml(readInput(file))) {
        total++;
        if (doc.ok) {
          process.stdout.write(`${file}: ${doc.name}: valid\n`);
        } else {
          bad++;
          for (const p of doc.problems) process.stderr.write(`${file}: ${doc.name}: ${p.path}: ${p.message}\n`);
        }
      }
    }
    if (total === 0) {
      process.stderr.write('no documents found\n');
      return 1;
    }
    return bad ? 1 : 0;
  },
};

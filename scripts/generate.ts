// `npm run generate`: writes every checked-in artefact derived from src/ (the CRD, the chart's
// copy of it, the chart's RBAC rules). Tests fail when any of them drifts from what this writes.
import { writeFileSync } from 'node:fs';
import { dump } from 'js-yaml';
import { crdYaml } from '../src/api/crd.ts';
import { LEADER_ELECTION_RULES, OPERATOR_RULES } from '../src/rbac.ts';

export const GENERATED: Record<string, () => string> = {
  'crds/qwenops.io_qwenservices.yaml': crdYaml,
  'charts/qwen-operator/crds/qwenops.io_qwenservices.yaml': crdYaml,
  'charts/qwen-operator/files/operator-rules.yaml': () => '# Generated from src/rbac.ts by `npm run generate`. Do not edit.\n' + dump(OPERATOR_RULES, { lineWidth: -1, noRefs: true }),
  'charts/qwen-operator/files/leader-election-rules.yaml': () => '# Generated from src/rbac.ts by `npm run generate`. Do not edit.\n' + dump(LEADER_ELECTION_RULES, { lineWidth: -1, noRefs: true }),
};

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [path, render] of Object.entries(GENERATED)) {
    writeFileSync(path, render());
    process.stdout.write(`wrote ${path}\n`);
  }
}

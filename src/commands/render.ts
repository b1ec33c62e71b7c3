// `qwen-operator render`: what the operator would create for a QwenService, without a cluster.
// kube: every owned object as multi-document YAML; prometheus-rules, alertmanager, grafana: the
// same rules, routes and dashboard for stacks without the Prometheus Operator; --explain: the
// burn-rate tiers of each SLO and how long a total breach takes to page.
import { dump } from 'js-yaml';
import { validateYaml } from '../api/validate.ts';
import type { QwenService } from '../api/qwenservice.ts';
import { defaultRenderConfig, namespaceOf } from '../render/common.ts';
import { renderPlanned } from '../render/index.ts';
import { resolvePlan } from '../plan/index.ts';
import { explainScaling } from '../render/scaledobject.ts';
import { explainGate } from '../sla/gates.ts';
import { renderDashboardJson } from '../render/dashboard.ts';
import { linksOf } from '../render/prometheusrule.ts';
import { renderAlertmanagerYaml } from '../sla/alertmanager.ts';
import { compileSla } from '../sla/rules.ts';
import { explain } from '../sla/explain.ts';
import { explainColdStart, type ColdStartInput } from '../sla/coldstart.ts';
import { parseDuration } from '../api/units.ts';
import { ROUTER_DEFAULT } from '../../router/src/contract.ts';
import type { Plan } from '../plan/index.ts';
import { CliError, parseOptions, readInput, type Command } from './command.ts';
import type { ModelFacts } from '../sizing/facts.ts';
import { DEFAULT_CPU_BANDWIDTH_GBPS, explainSizing } from '../sizing/feasibility.ts';
import { factsFor } from './size.ts';

const FORMATS = ['kube', 'prometheus-rules', 'alertmanager', 'grafana'] as const;
type Format = (typeof FORMATS)[number];

const yaml = (doc: unknown) => dump(doc, { lineWidth: -1, noRefs: true });

/** kube-prometheus-stack's Prometheus Service; what the ScaledObject's triggers query unless --prometheus-url says otherwise. */
export const DEFAULT_PROMETHEUS_URL = 'http://prometheus-operated.monitoring.svc:9090';

/** The text `render` prints for one QwenService; undefined when the format has nothing for it. */
export function renderText(qs: QwenService, format: Format, withExplain: boolean, prometheusURL = DEFAULT_PROMETHEUS_URL, facts?: ModelFacts): string | undefined {
  const config = { ...defaultRenderConfig, prometheusURL };
  // Without a cluster: as if it served every optional kind; the model's header is the --model-file's, when given.
  const plan = resolvePlan(qs, config, undefined, facts ? { header: { state: 'read', facts }, cpuBandwidthGBps: DEFAULT_CPU_BANDWIDTH_GBPS } : undefined);
  if (withExplain) {
    const sla = explain(`${namespaceOf(qs)}/${qs.metadata.name}`, compileSla(qs, linksOf(qs, config), plan.sla));
    const sized = plan.sizing?.sizing;
    const sizing = sized ? [`sizing (${DEFAULT_CPU_BANDWIDTH_GBPS} GB/s for the CPU path):\n${explainSizing(sized).map((l) => `  ${l}`).join('\n')}\n`] : [];
    const cold = coldStartInput(plan);
    const coldStart = cold ? [`${explainColdStart(cold).join('\n')}\n`] : [];
    return [sla, ...(plan.scaling ? [explainScaling(plan)] : []), ...coldStart, ...(plan.gate ? [`${explainGate(plan.gate).join('\n')}\n`] : []), ...sizing].join('\n');
  }
  switch (format) {
    case 'kube':
      return renderPlanned(plan).objects.map((o) => `---\n${yaml(o)}`).join('');
    case 'prometheus-rules': {
      const { groups } = compileSla(qs, linksOf(qs, config), plan.sla);
      return groups.length ? yaml({ groups }) : undefined;
    }
    case 'alertmanager': {
      const am = renderAlertmanagerYaml(qs);
      return am && `# Alertmanager routing for ${namespaceOf(qs)}/${qs.metadata.name}; credentials are read from the *_file paths.\n${yaml(am)}`;
    }
    case 'grafana':
      return JSON.stringify(renderDashboardJson(plan), null, 2) + '\n';
  }
}

/** What the cold-start explanation needs, with a router and minReplicas 0; undefined otherwise. */
export function coldStartInput(plan: Plan): ColdStartInput | undefined {
  const { qs } = plan;
  if (plan.sla.source !== 'router' || plan.scaling?.minReplicas !== 0) return undefined;
  const router = qs.spec.router;
  const scaleToZeroAfter = qs.spec.autoscaling?.scaleToZeroAfter ?? '15m';
  const fileSize = plan.sizing?.model?.fileSize;
  return {
    ...(fileSize !== undefined ? { modelBytes: fileSize } : {}),
    modelOnVolume: qs.spec.model.source.startsWith('pvc://') || qs.spec.modelCache?.persistentVolumeClaim !== undefined,
    slos: plan.sla.slos,
    scaleToZeroAfter: parseDuration(scaleToZeroAfter),
    holdTimeout: router?.holdTimeout ? parseDuration(router.holdTimeout) : ROUTER_DEFAULT.holdTimeoutSeconds,
  };
}

export const renderCommand: Command = {
  help: [
    'Usage: qwen-operator render -f FILE [--format kube|prometheus-rules|alertmanager|grafana] [--explain [--model-file PATH]]',
    '',
    '  --format kube              every object the operator owns, as multi-document YAML (default)',
    '  --format prometheus-rules  the SLO recording and alerting rules as a plain rule file (groups:)',
    '  --format alertmanager      the alert routing as a plain alertmanager.yml (credentials as *_file paths)',
    '  --format grafana           the dashboard JSON',
    '  --explain                  per SLO: burn-rate tiers kept and dropped, and how long a total breach takes to page;',
    '                             with spec.autoscaling, the scaling rules in words; with spec.rollout, the canary gate;',
    '                             with a router and minReplicas 0, how much of the TTFT budget one cold start spends',
    '  --model-file PATH          with --explain: the sizing `size` prints for the spec\'s own GPU (or CPU), from this GGUF',
    `  --prometheus-url URL       Prometheus the ScaledObject's triggers and the rollout gate query (default ${DEFAULT_PROMETHEUS_URL})`,
    '',
    'FILE may hold several QwenService documents; `-` reads standard input. Invalid documents are',
    'reported like `validate` does and make the command exit 1.',
  ].join('\n'),
  async run(args) {
    const { values } = parseOptions(args, { file: { type: 'string', short: 'f' }, format: { type: 'string' }, explain: { type: 'boolean' }, 'prometheus-url': { type: 'string' }, 'model-file': { type: 'string' } });
    if (values['model-file'] && !values.explain) throw new CliError('--model-file goes with --explain');
    if (!values.file) throw new CliError('missing -f FILE');
    const format = (values.format ?? 'kube') as Format;
    if (!FORMATS.includes(format)) throw new CliError(`--format must be one of ${FORMATS.join(', ')}`);
    const docs = validateYaml(readInput(values.file));
    if (!docs.length) throw new CliError(`${values.file}: no documents found`, 1);
    let bad = 0;
    const out: string[] = [];
    for (const doc of docs) {
      if (!doc.ok) {
        bad++;
        for (const p of doc.problems) process.stderr.write(`${values.file}: ${doc.name}: ${p.path}: ${p.message}\n`);
        continue;
      }
      const facts = values['model-file'] ? await factsFor(doc.value, values['model-file']) : undefined;
      const text = renderText(doc.value, format, values.explain ?? false, values['prometheus-url'] ?? DEFAULT_PROMETHEUS_URL, facts);
      if (text === undefined) process.stderr.write(`${values.file}: ${doc.name}: nothing to render as ${format}\n`);
      else out.push(text);
    }
    // grafana: one dashboard per document; several documents give a JSON array.
    if (format === 'grafana' && !values.explain && out.length > 1) process.stdout.write(`[\n${out.map((s) => s.trimEnd()).join(',\n')}\n]\n`);
    else process.stdout.write(out.join(format === 'prometheus-rules' || values.explain ? '---\n' : ''));
    return bad ? 1 : 0;
  },
};

// The refactor guard ([Q2]): everything the operator derives from a QwenService — every rendered
// object under each combination of what the cluster serves, `render --explain`, and status for a
// few fixed observations — for every example and 150 random valid QwenServices (fixed seed),
// compared with checked-in golden files. A change to any byte shows up here: the examples as a
// readable diff, the random sample as the case and section whose digest moved.
// Regenerate after a deliberate change:
//   UPDATE_GOLDEN=1 npm run jest -- test/unit/golden/render.golden.test.ts --selectProjects unit
// To see what moved in a random case: GOLDEN_DUMP=/tmp/dir writes every section in full (run it
// before and after, then diff the two directories).
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { dump } from 'js-yaml';
import type { QwenService } from '../../../src/api/qwenservice.ts';
import { parseQwenService } from '../../../src/api/validate.ts';
import { load } from 'js-yaml';
import { renderText } from '../../../src/commands/render.ts';
import { defaultRenderConfig, type KubeObject, type RenderConfig } from '../../../src/render/common.ts';
import { OWNED_KINDS, kindKey, renderOwned } from '../../../src/render/index.ts';
import { computeStatus, type Observed } from '../../../src/controller/status.ts';
import { REPLICA_OWNERS, resolvePlan } from '../../../src/plan/index.ts';
import { wholeQwenService } from './arbitrary.ts';

const SEED = 20261207;
const RANDOM_CASES = 150;
const examplesDir = new URL('../../../manifests/examples/', import.meta.url);
const goldenExamples = new URL('./examples.golden.yaml', import.meta.url);
const goldenRandom = new URL('./random.golden.txt', import.meta.url);

const yaml = (doc: unknown) => dump(doc, { lineWidth: -1, noRefs: true, sortKeys: false });
const PROMETHEUS = 'http://prometheus.monitoring.svc:9090';
const monitoringKinds = OWNED_KINDS.filter((k) => k.monitoring).map(kindKey);
const optional = (kind: string) => OWNED_KINDS.filter((k) => k.kind === kind).map(kindKey);

/** What the cluster serves and what the operator was told: each one changes which objects exist and who owns the count. */
const CLUSTERS: { name: string; config: RenderConfig; served: string[] }[] = [
  { name: 'everything', config: { ...defaultRenderConfig, prometheusURL: PROMETHEUS }, served: [...monitoringKinds, ...optional('ScaledObject'), ...optional('Rollout'), ...optional('AnalysisTemplate')] },
  { name: 'bare', config: { ...defaultRenderConfig, prometheusURL: PROMETHEUS }, served: [] },
  { name: 'keda', config: { ...defaultRenderConfig, prometheusURL: PROMETHEUS, prometheusNamespaces: ['monitoring'] }, served: [...monitoringKinds, ...optional('ScaledObject')] },
  { name: 'argo', config: { ...defaultRenderConfig, prometheusURL: PROMETHEUS }, served: [...monitoringKinds, ...optional('Rollout'), ...optional('AnalysisTemplate')] },
  { name: 'no-prometheus-url', config: { ...defaultRenderConfig }, served: [...monitoringKinds, ...optional('ScaledObject'), ...optional('Rollout'), ...optional('AnalysisTemplate')] },
];

const deployment = (qs: QwenService, replicas: number | undefined): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: qs.metadata.name, namespace: qs.metadata.namespace!, generation: 2 },
  spec: replicas === undefined ? {} : { replicas },
  status: { observedGeneration: 2, replicas: 3, readyReplicas: 2, updatedReplicas: 3 },
});
const scaledObject = (qs: QwenService): KubeObject => ({
  apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: qs.metadata.name, namespace: qs.metadata.namespace! },
  status: { conditions: [{ type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ok' }, { type: 'Active', status: 'False' }] },
});
const rollout = (qs: QwenService, rendered: KubeObject[]): KubeObject => ({
  ...(rendered.find((o) => o.kind === 'Rollout') ?? { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: qs.metadata.name, namespace: qs.metadata.namespace! } }),
  status: { phase: 'Paused', currentStepIndex: 1, stableRS: 'abc', replicas: 4, availableReplicas: 3, updatedReplicas: 1, message: 'CanaryPauseStep', canary: {} },
});

/** Status for a few fixed observations: nothing yet, an HPA-chosen count with KEDA ready, a Rollout mid-canary. */
function statuses(qs: QwenService, cluster: (typeof CLUSTERS)[number], rendered: KubeObject[], unserved: KubeObject[]): string {
  const served = new Set(cluster.served);
  const monitoringWanted = [...rendered, ...unserved].filter((o) => monitoringKinds.includes(kindKey(o)));
  const base: Observed = {
    pods: [],
    missingMonitoringKinds: [...new Set(monitoringWanted.filter((o) => !served.has(kindKey(o))).map((o) => o.kind))],
    monitoringRequested: monitoringWanted.length > 0,
    autoscaling: {},
  };
  const withRollout = (over: NonNullable<Observed['rollout']>) => (qs.spec.rollout ? { rollout: over } : {});
  const observations: [string, Observed][] = [
    ['new', { ...base, ...withRollout({}) }],
    ['running', { ...base, deployment: deployment(qs, 3), autoscaling: { ...base.autoscaling!, scaledObject: scaledObject(qs) }, ...withRollout({}) }],
    ['hpa-unset', { ...base, deployment: deployment(qs, undefined), ...withRollout({}) }],
    ['canary', { ...base, deployment: deployment(qs, 0), ...withRollout({ rollout: rollout(qs, rendered) }) }],
  ];
  const plan = resolvePlan(qs, cluster.config, served);
  return observations.map(([name, observed]) => `# status ${name}\n${yaml(computeStatus(plan, observed, '2026-12-07T00:00:00Z'))}`).join('');
}

/** Every section derived from one QwenService, by name. */
function sections(qs: QwenService): [string, string][] {
  const out: [string, string][] = [];
  // Objects the first cluster already shows in full are named, not repeated (keeps the file reviewable).
  const first = new Map<string, string>();
  for (const cluster of CLUSTERS) {
    const { objects, unserved } = renderOwned(qs, cluster.config, { servedMonitoringKinds: new Set(cluster.served) });
    const unservedText = unserved.length ? `# unserved: ${unserved.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}\n` : '';
    const text = objects.map((o) => {
      const full = yaml(o);
      const id = `${o.kind}/${o.metadata.name}`;
      if (cluster === CLUSTERS[0]) first.set(id, full);
      return first.get(id) === full && cluster !== CLUSTERS[0] ? `--- # ${id} as in ${CLUSTERS[0]!.name}\n` : `---\n${full}`;
    }).join('');
    out.push([`objects ${cluster.name}`, unservedText + text]);
    out.push([`status ${cluster.name}`, statuses(qs, cluster, objects, unserved)]);
  }
  out.push(['explain', renderText(qs, 'kube', true, PROMETHEUS) ?? '']);
  return out;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

function examples(): QwenService[] {
  const dir = examplesDir.pathname;
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()
    .flatMap((f) => (readFileSync(join(dir, f), 'utf8').split(/^---$/m).map((d) => load(d)).filter(Boolean)).map((doc) => parseQwenService(doc)));
}

const randomCases = () => fc.sample(wholeQwenService, { seed: SEED, numRuns: RANDOM_CASES });

function check(file: URL, actual: string) {
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  const expected = readFileSync(file, 'utf8');
  if (actual === expected) return;
  // Name the first section that moved before the (long) diff.
  const a = actual.split('\n'), e = expected.split('\n');
  const line = a.findIndex((l, i) => l !== e[i]);
  const section = [...a.slice(0, line + 1)].reverse().find((l) => l.startsWith('### ')) ?? '(start)';
  expect(`first difference at line ${line + 1}, in ${section}:\n${a[line]}`).toBe(`first difference at line ${line + 1}, in ${section}:\n${e[line]}`);
}

function dumpSections(name: string, secs: [string, string][]) {
  const dir = process.env.GOLDEN_DUMP;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  for (const [section, text] of secs) writeFileSync(join(dir, `${name}.${section.replace(/ /g, '-')}.yaml`), text);
}

describe('what the operator derives from a QwenService (golden)', () => {
  it('the examples render, explain and report exactly the golden file', () => {
    const text = examples().map((qs) => sections(qs).map(([section, body]) => `### ${qs.metadata.name} ${section}\n${body}`).join('')).join('');
    check(goldenExamples, text);
  });

  it(`${RANDOM_CASES} random QwenServices (seed ${SEED}) render, explain and report exactly as recorded`, () => {
    const cases = randomCases();
    expect(cases).toHaveLength(RANDOM_CASES);
    const lines = cases.map((qs, i) => {
      const secs = sections(qs);
      dumpSections(`${String(i).padStart(3, '0')}-${qs.metadata.name}`, secs);
      return `### ${i} ${qs.metadata.name}\n${secs.map(([section, body]) => `${section}: ${digest(body)}\n`).join('')}`;
    });
    check(goldenRandom, lines.join(''));
  });

  it('the random sample reaches every owner of the replica count and every optional kind', () => {
    // Otherwise the digests above prove nothing about them.
    const cases = randomCases();
    const everything = CLUSTERS[0]!;
    const kinds = new Set(cases.flatMap((qs) => renderOwned(qs, everything.config, { servedMonitoringKinds: new Set(everything.served) }).objects.map((o) => o.kind)));
    expect([...kinds].sort()).toEqual(['AlertmanagerConfig', 'AnalysisTemplate', 'ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'PrometheusRule', 'Role', 'RoleBinding', 'Rollout', 'ScaledObject', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    const owners = new Set(cases.flatMap((qs) => CLUSTERS.map((c) => resolvePlan(qs, c.config, new Set(c.served)).replicas.owner)));
    expect([...owners].sort()).toEqual([...REPLICA_OWNERS.map((o) => o.name)].sort());
    const both = cases.filter((qs) => qs.spec.autoscaling && qs.spec.rollout).length;
    const neither = cases.filter((qs) => !qs.spec.autoscaling && !qs.spec.rollout).length;
    expect(both).toBeGreaterThan(10);
    expect(neither).toBeGreaterThan(10);
  });
});

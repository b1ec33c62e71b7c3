// fast-check arbitraries for whole QwenServices: every part of the spec that changes what the
// operator renders (autoscaling, rollout, router, auth, GPU, network, monitoring, alerting, model source)
// next to a random SLA. The golden render test (render.golden.test.ts) draws a fixed sample.
import fc from 'fast-check';
import { parseQwenService } from '../../../src/api/validate.ts';
import type { QwenService } from '../../../src/api/qwenservice.ts';

const duration = fc.oneof(fc.integer({ min: 1, max: 30 }).map((n) => `${n}s`), fc.integer({ min: 50, max: 5000 }).map((n) => `${n}ms`));
const percent = fc.constantFrom('50%', '90%', '95%', '99%', '99.5%', '99.9%', '1%', '5%', '10%');
const percentiles = fc.record({ p50: duration, p90: duration, p95: duration, p99: duration }, { requiredKeys: [] })
  // Percentile thresholds must not decrease (p99 >= p95 ...): sort the drawn values.
  .map((r) => {
    const keys = (['p50', 'p90', 'p95', 'p99'] as const).filter((k) => r[k]);
    const secs = (s: string) => (s.endsWith('ms') ? Number(s.slice(0, -2)) / 1000 : Number(s.slice(0, -1)));
    const sorted = keys.map((k) => r[k]!).sort((a, b) => secs(a) - secs(b));
    return Object.fromEntries(keys.map((k, i) => [k, sorted[i]]));
  });
const sla = fc.record({
  window: fc.constantFrom('7d', '28d', '30d'),
  latency: percentiles,
  timeToFirstToken: percentiles,
  outputTokensPerSecond: fc.record({ min: fc.integer({ min: 1, max: 200 }), objective: percent }),
  errorRate: percent,
  availability: percent,
}, { requiredKeys: [] });

const autoscaling = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 6 }), fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }), fc.option(fc.boolean(), { nil: undefined }), fc.option(fc.constantFrom('90s', '5m', '1h'), { nil: undefined }))
  .map(([min, extra, target, burn, stab]) => ({
    minReplicas: min, maxReplicas: min + extra,
    ...(target !== undefined ? { targetInFlightPerReplica: target } : {}),
    ...(burn !== undefined ? { scaleOnSLOBurn: burn } : {}),
    ...(stab !== undefined ? { scaleDownStabilization: stab } : {}),
  }));

const router = fc.record({
  replicas: fc.integer({ min: 1, max: 3 }),
  affinity: fc.constantFrom('Prefix', 'None'),
  holdTimeout: fc.constantFrom('30s', '2m', '1h'),
  maxHeld: fc.integer({ min: 1, max: 512 }),
  image: fc.constant('example.test/router:1'),
}, { requiredKeys: [] });

const step = fc.record({ weight: fc.integer({ min: 1, max: 99 }), pause: fc.constantFrom('30s', '90s', '5m', '10m', '1h') });
const rollout = fc.record({
  shape: fc.constantFrom('default', 'steps', 'canary'),
  steps: fc.array(step, { minLength: 1, maxLength: 4 }),
  canary: fc.record({ weight: fc.integer({ min: 1, max: 99 }), analysis: fc.constantFrom('30s', '2m', '10m') }),
  slos: fc.option(fc.subarray(['latency-p95', 'ttft-p99', 'errors', 'availability', 'no-such-slo']), { nil: undefined }),
  factor: fc.option(fc.constantFrom(1, 2.5, 6, 14.4), { nil: undefined }),
  minEvents: fc.option(fc.integer({ min: 1, max: 500 }), { nil: undefined }),
  requireBudget: fc.option(fc.boolean(), { nil: undefined }),
}).map((r) => ({
  ...(r.shape === 'steps' ? { steps: r.steps } : r.shape === 'canary' ? { canary: r.canary } : {}),
  gate: { ...(r.slos ? { slos: r.slos } : {}), ...(r.factor !== undefined ? { factor: r.factor } : {}), ...(r.minEvents !== undefined ? { minEvents: r.minEvents } : {}) },
  ...(r.requireBudget !== undefined ? { requireBudget: r.requireBudget } : {}),
}));

const secret = fc.record({ name: fc.constantFrom('keys', 'llm-keys'), key: fc.constantFrom('keys', 'api.txt') }).map((secretKeyRef) => ({ secretKeyRef }));
const receivers = [
  { name: 'oncall', pagerduty: { routingKey: { secretKeyRef: { name: 'pd', key: 'key' } } } },
  { name: 'team', slack: { channel: '#llm', apiURL: { secretKeyRef: { name: 'slack', key: 'url' } } } },
];
const alerting = fc.record({ routes: fc.boolean(), runbook: fc.boolean(), dashboard: fc.boolean() }).map((a) => ({
  receivers,
  ...(a.routes ? { routes: { critical: ['oncall'], warning: ['team'] } } : {}),
  ...(a.runbook ? { runbookURL: 'https://runbooks.example.com/llm' } : {}),
  ...(a.dashboard ? { dashboardURL: 'https://grafana.example.com' } : {}),
}));

const monitoring = fc.record({
  enabled: fc.option(fc.boolean(), { nil: undefined }),
  labels: fc.boolean(),
  interval: fc.constantFrom('15s', '30s', '1m'),
  dashboard: fc.option(fc.boolean(), { nil: undefined }),
  ruleLabels: fc.boolean(),
}).map((m) => ({
  serviceMonitor: { ...(m.enabled !== undefined ? { enabled: m.enabled } : {}), ...(m.labels ? { labels: { release: 'kps' } } : {}), interval: m.interval },
  ...(m.dashboard !== undefined ? { dashboard: m.dashboard } : {}),
  ...(m.ruleLabels ? { ruleLabels: { release: 'kps' }, alertmanagerConfigLabels: { release: 'kps' } } : {}),
}));

const network = fc.constantFrom(
  undefined,
  { policy: false },
  { allowFrom: [{ namespaceSelector: { matchLabels: { team: 'gateway' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] },
);

const model = fc.record({
  source: fc.constantFrom('hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M', 'hf:owner/repo/dir/file.gguf', 'https://models.example.com/m.gguf?sig=secret', 'file:///models/m.gguf', 'pvc://models/qwen/m.gguf'),
  name: fc.option(fc.constantFrom('qwen3', 'my-model:v2'), { nil: undefined }),
  sha256: fc.option(fc.constant('a'.repeat(64)), { nil: undefined }),
  contextSize: fc.option(fc.constantFrom(2048, 32768), { nil: undefined }),
  parallel: fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }),
}).map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)));

const gpu = fc.record({ count: fc.integer({ min: 0, max: 2 }), product: fc.option(fc.constant('NVIDIA-L4'), { nil: undefined }) })
  .map((g) => ({ count: g.count, ...(g.product ? { product: g.product } : {}) }));

/** A valid QwenService touching every renderer; optional parts present about half the time. */
export const wholeQwenService: fc.Arbitrary<QwenService> = fc.record({
  name: fc.stringMatching(/^[a-z][a-z0-9-]{0,14}[a-z0-9]$/),
  namespace: fc.constantFrom('ns-1', 'team-a'),
  ignoreBudget: fc.boolean(),
  replicas: fc.integer({ min: 0, max: 4 }),
  model,
  gpu,
  sla: fc.option(sla, { nil: undefined, freq: 2 }),
  autoscaling: fc.option(autoscaling, { nil: undefined, freq: 2 }),
  rollout: fc.option(rollout, { nil: undefined, freq: 2 }),
  auth: fc.option(secret, { nil: undefined, freq: 2 }),
  alerting: fc.option(alerting, { nil: undefined, freq: 2 }),
  monitoring: fc.option(monitoring, { nil: undefined, freq: 2 }),
  network,
  modelCache: fc.constantFrom(undefined, { persistentVolumeClaim: 'cache' }, { sizeLimit: '20Gi' }),
  scheduling: fc.boolean(),
  router: fc.option(router, { nil: undefined, freq: 2 }),
  /** With a router and autoscaling: from zero. */
  zero: fc.option(fc.constantFrom('1s', '15m', '24h'), { nil: undefined }),
}).map((r) => parseQwenService({
  apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService',
  metadata: { name: r.name, namespace: r.namespace, uid: `uid-${r.name}`, generation: 3, ...(r.ignoreBudget ? { annotations: { 'qwenops.io/rollout-ignore-budget': 'true' } } : {}) },
  spec: {
    replicas: r.replicas,
    model: r.model,
    gpu: r.gpu,
    ...(r.sla ? { sla: r.sla } : {}),
    ...(r.autoscaling ? { autoscaling: r.router && r.zero ? { ...r.autoscaling, minReplicas: 0, scaleToZeroAfter: r.zero } : r.autoscaling } : {}),
    ...(r.router ? { router: r.router } : {}),
    ...(r.rollout ? { rollout: r.rollout } : {}),
    ...(r.auth ? { auth: { apiKey: r.auth } } : {}),
    ...(r.alerting ? { alerting: r.alerting } : {}),
    ...(r.monitoring ? { monitoring: r.monitoring } : {}),
    ...(r.network ? { network: r.network } : {}),
    ...(r.modelCache ? { modelCache: r.modelCache } : {}),
    ...(r.scheduling ? { nodeSelector: { pool: 'gpu' }, tolerations: [{ key: 'dedicated', operator: 'Exists' }], runtimeClassName: 'nvidia', priorityClassName: 'llm', resources: { requests: { cpu: '2', memory: '8Gi' }, limits: { memory: 16 } } } : {}),
  },
}));

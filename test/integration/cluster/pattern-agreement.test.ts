// zod (what `validate` and the reconciler check) and the apiserver (the CRD's OpenAPI patterns, run
// by Go's RE2, and its CEL rules) must give every string the same verdict: what the apiserver
// stores but zod refuses becomes Ready=False/InvalidSpec after the user was told "created"; the
// reverse is a needless refusal. JavaScript and RE2 differ in places a pattern can hit without
// notice (`\s` takes Unicode spaces in one and not the other, `.` and line terminators), so the
// same generated strings go through both, for every field of the CRD that has a pattern or a CEL
// rule of its own: through checkQwenService, and through a dry-run create (validation and
// admission, nothing stored). The strings are grown from valid examples by single edits with
// characters chosen where the engines could differ, padded to about the field's maxLength, or
// free strings of those characters.
import { beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { buildCrd } from '../../../src/api/crd.ts';
import { checkQwenService } from '../../../src/api/validate.ts';
import { installCrds, kubeRequest, resourcePath, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';
import { join } from 'node:path';

const crdFile = join(import.meta.dirname, '..', '..', '..', 'crds', 'qwenops.io_qwenservices.yaml');
/** Per field: enough to find a difference in practice, few enough dry runs for a loaded machine. */
const RUNS_PER_FIELD = 50;
let ns: string;
let qwsPath: string;

type Schema = { [k: string]: unknown; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean };

/** CRD paths (as `spec.a.b[]`, `spec.m{}`) of string fields with a pattern or string-level CEL rules, with their maxLength. */
function patternedFields(): Map<string, number | undefined> {
  const spec = ((buildCrd() as { spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } }).spec.versions[0]!.schema.openAPIV3Schema.properties!).spec!;
  const out = new Map<string, number | undefined>();
  const walk = (s: Schema, path: string) => {
    if ((s.type === 'string' || s['x-kubernetes-int-or-string']) && (s.pattern || s['x-kubernetes-validations'])) out.set(path, s.maxLength as number | undefined);
    for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
    if (s.items) walk(s.items, `${path}[]`);
    if (s.additionalProperties && typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${path}{}`);
  };
  walk(spec, 'spec');
  return out;
}

const ref = (name = 's', key = 'k') => ({ secretKeyRef: { name, key } });
const receiver = (r: Record<string, unknown>) => ({ alerting: { receivers: [{ name: 'r', ...r }] } });
const email = (e: Record<string, unknown>) => receiver({ email: { to: 'a@b.c', ...e } });
const selectorPeer = (sel: Record<string, unknown>) => ({ network: { allowFrom: [sel] } });

/** For each patterned field: the spec that carries a value there (all else valid), and valid examples to grow values from. */
const FIELDS: Record<string, { place: (v: string) => Record<string, unknown>; examples: string[] }> = {
  'spec.model.source': { place: (v) => ({ model: { source: v } }), examples: ['hf:owner/repo:Q4_K_M', 'hf:o/r/dir/m.gguf', 'https://x.example/m.gguf?a=b', 'file:///m/x.gguf', 'pvc://claim/a/b.gguf'] },
  'spec.model.sha256': { place: (v) => ({ model: { sha256: v } }), examples: ['0123456789abcdef'.repeat(4)] },
  'spec.model.name': { place: (v) => ({ model: { name: v } }), examples: ['qwen3-4b:Q4_K_M', 'm.1_x'] },
  'spec.autoscaling.scaleDownStabilization': { place: (v) => ({ autoscaling: { maxReplicas: 2, scaleDownStabilization: v } }), examples: ['5m', '3600s', '90s', '1h'] },
  'spec.autoscaling.scaleToZeroAfter': { place: (v) => ({ autoscaling: { minReplicas: 0, maxReplicas: 2, scaleToZeroAfter: v }, router: {} }), examples: ['15m', '1s', '24h', '86400s'] },
  'spec.router.holdTimeout': { place: (v) => ({ router: { holdTimeout: v } }), examples: ['2m', '1s', '1h', '3600s'] },
  'spec.router.resources.requests{}': { place: (v) => ({ router: { resources: { requests: { memory: v } } } }), examples: ['128Mi', '1.5', '100m'] },
  'spec.router.resources.limits{}': { place: (v) => ({ router: { resources: { limits: { cpu: v } } } }), examples: ['1', '500m', '+1'] },
  'spec.rollout.steps[].pause': { place: (v) => ({ rollout: { steps: [{ weight: 10, pause: v }] } }), examples: ['10m', '30s', '24h', '1440m'] },
  'spec.rollout.canary.analysis': { place: (v) => ({ rollout: { canary: { weight: 10, analysis: v } } }), examples: ['10m', '30s', '24h'] },
  'spec.rollout.gate.slos[]': { place: (v) => ({ rollout: { gate: { slos: [v] } } }), examples: ['latency-p95', 'error-rate'] },
  'spec.gpu.product': { place: (v) => ({ gpu: { product: v } }), examples: ['NVIDIA-L4', 'NVIDIA-H100-80GB_HBM3', 'a.b'] },
  'spec.nodeSelector{}': { place: (v) => ({ nodeSelector: { pool: v } }), examples: ['gpu', 'nvidia-l4', ''] },
  'spec.resources.requests{}': { place: (v) => ({ resources: { requests: { memory: v } } }), examples: ['8Gi', '1.5', '100m', '1e3', '.5'] },
  'spec.resources.limits{}': { place: (v) => ({ resources: { limits: { cpu: v } } }), examples: ['2', '500m', '+1'] },
  'spec.modelCache.persistentVolumeClaim': { place: (v) => ({ modelCache: { persistentVolumeClaim: v } }), examples: ['models', 'a.b-c'] },
  'spec.modelCache.sizeLimit': { place: (v) => ({ modelCache: { sizeLimit: v } }), examples: ['10Gi', '500M'] },
  'spec.model.promptCache': { place: (v) => ({ model: { promptCache: v } }), examples: ['2Gi', '512Mi', '1G'] },
  ...Object.fromEntries(['latency', 'timeToFirstToken'].flatMap((k) => ['p50', 'p90', 'p95', 'p99', 'p999'].map((p) => [
    `spec.sla.${k}.${p}`, { place: (v: string) => ({ sla: { [k]: { [p]: v } } }), examples: ['3s', '800ms', '1.5s', '2m'] },
  ]))),
  'spec.sla.outputTokensPerSecond.objective': { place: (v) => ({ sla: { outputTokensPerSecond: { min: 10, objective: v } } }), examples: ['95%', '99.9%', '0.5%'] },
  'spec.sla.errorRate': { place: (v) => ({ sla: { errorRate: v } }), examples: ['1%', '0.01%'] },
  'spec.sla.availability': { place: (v) => ({ sla: { availability: v } }), examples: ['99.9%', '50%'] },
  'spec.monitoring.serviceMonitor.labels{}': { place: (v) => ({ monitoring: { serviceMonitor: { labels: { release: v } } } }), examples: ['kube-prometheus-stack'] },
  'spec.monitoring.serviceMonitor.interval': { place: (v) => ({ monitoring: { serviceMonitor: { interval: v } } }), examples: ['15s', '1m'] },
  'spec.monitoring.ruleLabels{}': { place: (v) => ({ monitoring: { ruleLabels: { release: v } } }), examples: ['prom'] },
  'spec.monitoring.alertmanagerConfigLabels{}': { place: (v) => ({ monitoring: { alertmanagerConfigLabels: { release: v } } }), examples: ['am_1'] },
  'spec.alerting.receivers[].name': { place: (v) => ({ alerting: { receivers: [{ name: v, webhook: { url: ref() } }] } }), examples: ['oncall', 'a-1'] },
  'spec.alerting.receivers[].slack.channel': { place: (v) => receiver({ slack: { channel: v, apiURL: ref() } }), examples: ['#llm-oncall', '@someone', '#日本'] },
  'spec.alerting.receivers[].slack.apiURL.secretKeyRef.name': { place: (v) => receiver({ slack: { channel: '#x', apiURL: ref(v) } }), examples: ['slack', 'a.b'] },
  'spec.alerting.receivers[].slack.apiURL.secretKeyRef.key': { place: (v) => receiver({ slack: { channel: '#x', apiURL: ref('s', v) } }), examples: ['url', '.k_v2'] },
  'spec.alerting.receivers[].email.to': { place: (v) => email({ to: v }), examples: ['oncall@example.com', 'jörg@exämple.com'] },
  'spec.alerting.receivers[].email.from': { place: (v) => email({ from: v }), examples: ['LLM alerts <alerts@example.com>', 'a@b.c'] },
  'spec.alerting.receivers[].email.smarthost': { place: (v) => email({ smarthost: v }), examples: ['smtp.example.com:587', '[2001:db8::1]:25', '10.0.0.1:25'] },
  'spec.alerting.receivers[].email.authPassword.secretKeyRef.name': { place: (v) => email({ authPassword: ref(v) }), examples: ['smtp'] },
  'spec.alerting.receivers[].email.authPassword.secretKeyRef.key': { place: (v) => email({ authPassword: ref('s', v) }), examples: ['password'] },
  'spec.alerting.receivers[].webhook.url.secretKeyRef.name': { place: (v) => receiver({ webhook: { url: ref(v) } }), examples: ['hook'] },
  'spec.alerting.receivers[].webhook.url.secretKeyRef.key': { place: (v) => receiver({ webhook: { url: ref('s', v) } }), examples: ['url'] },
  'spec.alerting.receivers[].pagerduty.routingKey.secretKeyRef.name': { place: (v) => receiver({ pagerduty: { routingKey: ref(v) } }), examples: ['pd'] },
  'spec.alerting.receivers[].pagerduty.routingKey.secretKeyRef.key': { place: (v) => receiver({ pagerduty: { routingKey: ref('s', v) } }), examples: ['key'] },
  'spec.alerting.runbookURL': { place: (v) => ({ alerting: { runbookURL: v } }), examples: ['https://wiki.example.com/rb?p=1#burn', 'http://x:8080/'] },
  'spec.alerting.dashboardURL': { place: (v) => ({ alerting: { dashboardURL: v } }), examples: ['http://grafana.monitoring.svc:3000/'] },
  'spec.auth.apiKey.secretKeyRef.name': { place: (v) => ({ auth: { apiKey: ref(v) } }), examples: ['chat.api-keys'] },
  'spec.auth.apiKey.secretKeyRef.key': { place: (v) => ({ auth: { apiKey: ref('s', v) } }), examples: ['keys'] },
  'spec.auth.apiKeys.secretRef.name': { place: (v) => ({ auth: { apiKeys: { secretRef: { name: v } } } }), examples: ['chat.tenants', 'keys'] },
  'spec.tenants[].name': { place: (v) => ({ tenants: [{ name: v }] }), examples: ['team-a', 'default', 'b2'] },
  ...Object.fromEntries(['podSelector', 'namespaceSelector'].flatMap((sel) => [
    [`spec.network.allowFrom[].${sel}.matchLabels{}`, { place: (v: string) => selectorPeer({ [sel]: { matchLabels: { app: v } } }), examples: ['gateway', ''] }],
    [`spec.network.allowFrom[].${sel}.matchExpressions[].key`, { place: (v: string) => selectorPeer({ [sel]: { matchExpressions: [{ key: v, operator: 'Exists' }] } }), examples: ['app', 'kubernetes.io/metadata.name'] }],
    [`spec.network.allowFrom[].${sel}.matchExpressions[].values[]`, { place: (v: string) => selectorPeer({ [sel]: { matchExpressions: [{ key: 'app', operator: 'In', values: [v] }] } }), examples: ['a', 'b-1'] }],
  ])),
  'spec.network.allowFrom[].ipBlock.cidr': { place: (v) => selectorPeer({ ipBlock: { cidr: v } }), examples: ['10.0.0.0/8', 'fd00::/8'] },
  'spec.network.allowFrom[].ipBlock.except[]': { place: (v) => selectorPeer({ ipBlock: { cidr: '10.0.0.0/8', except: [v] } }), examples: ['10.1.0.0/16'] },
};

/**
 * Characters where the two engines or the two validators could part: ASCII whitespace and
 * Unicode spaces (`\s`), line terminators (`.`), template braces, URL and address punctuation,
 * non-ASCII letters, a character outside the BMP (UTF-16 length 2, one rune), NUL.
 */
const TRICKY = [' ', '\t', '\n', '\v', '\f', '\r', '\u0085', '\u00a0', '\u1680', '\u2000', '\u2028', '\u2029', '\u202f', '\u3000', '\ufeff',
  '{', '}', '{{', '}}', '@', ':', '/', '.', '..', '-', '_', '%', '?', '#', '[', ']', '+', 'é', 'K', '\u{1F600}', '\0', 'a', 'Z', '0', '9', 's', 'm', 'h', 'i'];
const piece = fc.constantFrom(...TRICKY);

const codePoints = (t: string) => [...t].length;
/** What a value may be padded with: ASCII, a BMP letter, a character beyond the BMP. */
const padding = fc.constantFrom('a', '0', 'é', '\u{1F600}');

/**
 * One edit of a valid example (insert, replace, delete, append), an example padded with one piece
 * to about its field's maxLength (OpenAPI and CEL count code points, JavaScript's length UTF-16
 * units), or a free string of tricky pieces.
 */
const valueFrom = (examples: string[], maxLength = 64) => fc.oneof(
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...examples), padding, fc.integer({ min: -1, max: 1 })).map(([ex, p, d]) =>
    ex + p.repeat(Math.max(0, Math.floor((maxLength - codePoints(ex)) / codePoints(p)) + d))) },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...examples), fc.nat(), piece, fc.constantFrom('insert', 'replace', 'delete', 'append')).map(([ex, at, p, op]) => {
    const i = ex.length ? at % (ex.length + 1) : 0;
    if (op === 'insert') return ex.slice(0, i) + p + ex.slice(i);
    if (op === 'replace') return ex.slice(0, i) + p + ex.slice(i + 1);
    if (op === 'delete') return ex.slice(0, i) + ex.slice(i + 1);
    return ex + p;
  }) },
  { weight: 1, arbitrary: fc.constantFrom(...examples) },
  { weight: 1, arbitrary: fc.array(piece, { maxLength: 12 }).map((ps) => ps.join('')) },
);

const documentWith = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'agree', namespace: ns }, spec });

async function apiserverAccepts(obj: KubeObject): Promise<boolean> {
  const res = await kubeRequest(testCluster(), 'POST', qwsPath, obj, { query: { dryRun: 'All', fieldValidation: 'Strict' } });
  if (![201, 400, 422].includes(res.status)) throw new Error(`unexpected ${res.status}: ${res.text.slice(0, 300)}`);
  return res.status === 201;
}

beforeAll(async () => {
  await installCrds(testCluster(), [crdFile]);
  ns = await testNamespace('qws-patterns');
  qwsPath = await resourcePath(testCluster(), 'qwenops.io/v1alpha1', 'QwenService', ns);
}, 60_000);

describe('zod and the apiserver agree on every patterned field', () => {
  test('the table names exactly the CRD\'s patterned fields, and each example is valid in both', async () => {
    expect(Object.keys(FIELDS).sort()).toEqual([...patternedFields().keys()].sort());
    for (const [path, f] of Object.entries(FIELDS)) {
      for (const ex of f.examples) {
        const doc = documentWith(f.place(ex));
        expect([path, ex, checkQwenService(doc).ok, await apiserverAccepts(doc)]).toEqual([path, ex, true, true]);
      }
    }
  }, 120_000);

  const maxLengths = patternedFields();
  test.each(Object.keys(FIELDS))('%s', async (path) => {
    const f = FIELDS[path]!;
    await fc.assert(fc.asyncProperty(valueFrom(f.examples, maxLengths.get(path)), async (v) => {
      const doc = documentWith(f.place(v));
      const zod = checkQwenService(doc);
      const verdicts = { zod: zod.ok, apiserver: await apiserverAccepts(doc) };
      expect({ value: v, ...verdicts, problems: zod.ok ? [] : zod.problems }).toEqual({ value: v, zod: verdicts.apiserver, apiserver: verdicts.apiserver, problems: expect.any(Array) });
    }), { numRuns: RUNS_PER_FIELD });
  }, 120_000);
});

// The monitoring objects of a QwenService: which are rendered when, their names, owner
// references and CRD shapes; the dashboard's queries read only series the worker or the SLO rules
// produce. (That they parse, by promtool: test/with-tools/render/dashboard.test.ts.)
import { describe, it, expect } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import { renderMonitoring } from '../../../src/render/monitoring.ts';
import fc from 'fast-check';
import { dashboardPanels, dashboardUid, renderDashboard, renderDashboardJson } from '../../../src/render/dashboard.ts';
import { compileSla } from '../../../src/sla/rules.ts';
import { RECORD } from '../../../src/sla/sli.ts';
import { METRIC } from '../../../worker/src/contract.ts';
import { fullSla, LINKS } from '../sla/fixtures.ts';
import { resolvePlan } from '../../../src/plan/index.ts';

const minimal = () => parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'm', namespace: 'ns', uid: 'u-1' }, spec: {} });

describe('renderMonitoring', () => {
  it('renders all four for full-sla, named after the QwenService, owned by it', () => {
    const qs = fullSla();
    (qs.metadata as Record<string, unknown>).uid = 'uid-1';
    const objs = renderMonitoring(resolvePlan(qs, defaultRenderConfig));
    expect(objs.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`)).toEqual([
      'monitoring.coreos.com/v1 ServiceMonitor chat',
      'monitoring.coreos.com/v1 PrometheusRule chat',
      'monitoring.coreos.com/v1alpha1 AlertmanagerConfig chat',
      'v1 ConfigMap chat-dashboard',
    ]);
    for (const o of objs) {
      expect(o.metadata.namespace).toBe('team-a');
      expect(o.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'QwenService', name: 'chat', uid: 'uid-1', controller: true })]);
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- reading nested rendered fields
    const [sm, rule, amc, cm] = objs as Record<string, any>[];
    expect(sm!.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(sm!.spec).toEqual({ selector: { matchLabels: expect.objectContaining({ 'app.kubernetes.io/instance': 'chat', 'app.kubernetes.io/component': 'worker' }) }, endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }] });
    expect(rule!.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(rule!.spec.groups.length).toBe(1);
    expect(amc!.spec.route.matchers).toEqual([{ name: 'qwenservice', value: 'chat', matchType: '=' }]);
    expect(amc!.spec.receivers.find((r: { name: string }) => r.name === 'oncall').slackConfigs[0].apiURL).toEqual({ name: 'slack', key: 'url' });
    expect(amc!.spec.inhibitRules[0].equal).toEqual(['namespace', 'qwenservice', 'slo']);
    expect(cm!.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(JSON.parse(cm!.data['qwen_team-a_chat.json']).uid).toBe('qwen_team-a_chat');
  });

  it('renders only the ServiceMonitor and dashboard without SLA or alerting', () => {
    expect(renderMonitoring(resolvePlan(minimal(), defaultRenderConfig)).map((o) => o.kind)).toEqual(['ServiceMonitor', 'ConfigMap']);
  });

  it('honours serviceMonitor.enabled=false and dashboard=false', () => {
    const qs = parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'm' }, spec: { sla: { errorRate: '1%' }, monitoring: { serviceMonitor: { enabled: false }, dashboard: false } } });
    expect(renderMonitoring(resolvePlan(qs, defaultRenderConfig)).map((o) => o.kind)).toEqual(['PrometheusRule']);
  });

  it('keeps dashboard uids within Grafana\'s 40 characters', () => {
    const qs = parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'a'.repeat(40), namespace: 'b'.repeat(40) }, spec: {} });
    expect(dashboardUid(qs).length).toBeLessThanOrEqual(40);
  });
});

// The Grafana sidecar loads every labelled ConfigMap of the cluster into one folder, and Grafana
// keys dashboards by uid: two QwenServices that share either replace each other's dashboard.
describe('dashboard identity: one per (namespace, name) in the cluster', () => {
  const qwenService = (namespace: string, name: string) => parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name, namespace }, spec: {} });
  const identity = (namespace: string, name: string) => {
    const cm = renderDashboard(resolvePlan(qwenService(namespace, name), defaultRenderConfig))!;
    const [file, json] = Object.entries(cm.data as Record<string, string>)[0]!;
    return { uid: dashboardUid(qwenService(namespace, name)), jsonUid: (JSON.parse(json) as { uid: string }).uid, file };
  };
  const GRAFANA_UID = /^[A-Za-z0-9_-]{1,40}$/;

  it('team-a/llm and team/a-llm get different uids and file names', () => {
    const a = identity('team-a', 'llm'), b = identity('team', 'a-llm');
    expect(a.uid).not.toBe(b.uid);
    expect(a.file).not.toBe(b.file);
    expect([a.uid, a.jsonUid, a.file]).toEqual(['qwen_team-a_llm', 'qwen_team-a_llm', 'qwen_team-a_llm.json']);
  });

  const label = (max: number) => fc.array(fc.constantFrom('a', 'b', '-'), { minLength: 1, maxLength: max }).map((cs) => `x${cs.join('')}x`.slice(0, 63).replace(/-$/, 'y'));
  /** A run of DNS-label words cut at every `-`: the pairs whose plain `<namespace>-<name>` join is the same. */
  const samePlainJoin = fc.array(fc.stringMatching(/^[a-z0-9]{1,24}$/), { minLength: 2, maxLength: 8 }).map((words) =>
    words.slice(1).map((_, i) => [words.slice(0, i + 1).join('-'), words.slice(i + 1).join('-')] as const).filter(([ns, n]) => ns.length <= 63 && n.length <= 63));

  it('distinct pairs never share a uid or a file name (pairs whose plain join is the same)', () => {
    fc.assert(fc.property(samePlainJoin, (pairs) => {
      const ids = pairs.map(([ns, n]) => identity(ns, n));
      for (const id of ids) expect([id.uid.length <= 40, GRAFANA_UID.test(id.uid), id.jsonUid]).toEqual([true, true, id.uid]);
      expect(new Set(ids.map((i) => i.uid)).size).toBe(pairs.length);
      expect(new Set(ids.map((i) => i.file)).size).toBe(pairs.length);
    }), { numRuns: 300 });
  });

  it('distinct pairs never share a uid or a file name (any labels, short and long)', () => {
    fc.assert(fc.property(label(70), label(70), label(70), label(70), (n1, m1, n2, m2) => {
      fc.pre(n1 !== n2 || m1 !== m2);
      const a = identity(n1, m1), b = identity(n2, m2);
      expect([a.uid === b.uid, a.file === b.file]).toEqual([false, false]);
      expect(GRAFANA_UID.test(a.uid)).toBe(true);
    }), { numRuns: 200 });
  });
});

describe('dashboard', () => {
  const qs = fullSla();
  const exprs = dashboardPanels(resolvePlan(qs, defaultRenderConfig)).flatMap((p) => p.targets.map((t) => t.expr));

  it('covers SLI, budget, burn rate, latency, TTFT, tokens/s, running/waiting, errors, memory', () => {
    const titles = (renderDashboardJson(resolvePlan(qs, defaultRenderConfig)).panels as { title: string }[]).map((p) => p.title).join(' | ');
    for (const t of ['SLI', 'budget', 'Burn rate', 'latency', 'first token', 'tokens/s', 'running / waiting', 'Errors by type', 'Memory']) expect(titles).toContain(t);
  });

  it('with a router, shows latency and TTFT as clients see them (the router\'s series) and the rest per worker', () => {
    const routed = resolvePlan({ ...qs, spec: { ...qs.spec, router: { replicas: 2, affinity: 'Prefix', holdTimeout: '2m', maxHeld: 256 } } } as typeof qs, defaultRenderConfig);
    const panels = dashboardPanels(routed);
    const exprsOf = (title: string) => panels.find((p) => p.title === title)!.targets.map((t) => t.expr).join('\n');
    expect(exprsOf('Request latency')).toMatch(/^histogram_quantile\(0\.5, sum by \(le\) \(rate\(qwen_router_request_duration_seconds_bucket\{namespace="[^"]+",service="[^"]+-router"/);
    expect(exprsOf('Time to first token')).toContain('qwen_router_time_to_first_token_seconds_bucket');
    expect(exprsOf('Output tokens/s')).not.toContain('qwen_router_');
    expect(exprsOf('Requests per second')).not.toContain('qwen_router_');
  });

  it('reads only series the worker or the SLO rules produce', () => {
    const worker: string[] = Object.values(METRIC);
    const histogramSeries = worker.flatMap((n) => [n, `${n}_bucket`, `${n}_count`, `${n}_sum`]);
    const recorded = compileSla(qs, LINKS).groups.flatMap((g) => g.rules).flatMap((r) => ('record' in r ? [r.record] : []));
    const known = new Set([...histogramSeries, ...recorded, 'up', 'ALERTS']);
    for (const e of exprs) {
      const names = [...e.replace(/"[^"]*"/g, '""').matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{/g)].map((m) => m[1]!);
      expect(names.length).toBeGreaterThan(0);
      for (const n of names) expect({ expr: e, series: n, known: known.has(n) }).toMatchObject({ known: true });
    }
    expect(recorded).toContain(RECORD.budgetRemaining);
  });
});

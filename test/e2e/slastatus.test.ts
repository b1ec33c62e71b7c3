// The live SLA status loop against a real Prometheus 3: an exporter with the worker's metric names
// (so the numbers are exactly known), scraped with a ServiceMonitor's target labels; the poller's
// status writes are captured from a KubeClient stand-in that merges them like the apiserver would.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Histogram, Registry } from 'prom-client';
import { checkQwenService } from '../../src/api/validate.ts';
import type { QwenService } from '../../src/api/qwenservice.ts';
import { SLA_FIELD_MANAGER } from '../../src/conventions.ts';
import type { Cache } from '../../src/controller/informer.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/render/common.ts';
import { PrometheusClient } from '../../src/slastatus/prometheus.ts';
import { SlaStatusPoller } from '../../src/slastatus/poller.ts';
import { compileSla, RECORD } from '../../src/sla/index.ts';
import { startPrometheus, type Prometheus } from './support/monitoring.ts';

const NS = 'team-a';
const NAME = 'chat';

function qwenService(): QwenService {
  const r = checkQwenService({
    apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService',
    metadata: { name: NAME, namespace: NS, generation: 3, uid: 'u-1' },
    spec: { gpu: { count: 0 }, sla: { window: '7d', latency: { p95: '3s' }, errorRate: '1%', availability: '99%' } },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

/** The informer cache and the apiserver in one: applies merge into the object the cache returns. */
function fakeCluster(obj: QwenService) {
  const applies: { manager: string; subresource?: string; body: KubeObject }[] = [];
  const current = obj as unknown as KubeObject & { status?: QwenService['status'] };
  const cache: Cache = {
    get: (ns, name) => (ns === NS && name === NAME ? current : undefined),
    list: () => [current],
  } as Cache;
  const client = {
    async apply(body: KubeObject, manager: string, subresource?: string) {
      applies.push({ manager, subresource, body: structuredClone(body) });
      const s = body.status as NonNullable<QwenService['status']>;
      const conditions = [...(current.status?.conditions ?? [])].filter((c) => !s.conditions?.some((n) => n.type === c.type));
      current.status = { ...(current.status ?? {}), conditions: [...conditions, ...(s.conditions ?? [])], ...(s.sla ? { sla: s.sla } : {}) };
      return current;
    },
  } as unknown as KubeClient;
  return { applies, cache, client, current };
}

describe('SLA status from a real Prometheus', () => {
  let prom: Prometheus;
  let exporter: Server;
  const registry = new Registry();
  const duration = new Histogram({ name: 'gen_ai_server_request_duration_seconds', help: 'h', labelNames: ['model', 'error_type'], buckets: [0.5, 1, 3, 10], registers: [registry] });
  // Series exist from the first scrape (at zero), as a worker must expose them: increase() never
  // counts the sample a series first appears with.
  for (const e of ['', 'internal', 'invalid_request']) duration.zero({ model: 'm', error_type: e });

  beforeAll(async () => {
    exporter = createServer((_req, res) => { void registry.metrics().then((t) => res.writeHead(200, { 'content-type': registry.contentType }).end(t)); });
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
    const port = (exporter.address() as { port: number }).port;
    prom = await startPrometheus({ dir: mkdtempSync(join(tmpdir(), 'qwen-slastatus-')), targets: [{ address: `127.0.0.1:${port}`, namespace: NS, service: NAME, pod: `${NAME}-0` }] });
    // Two scrapes at zero first, so increase() counts every later observation.
    await waitScraped(2);
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    exporter?.close();
  });

  async function waitScraped(n: number): Promise<void> {
    const start = Date.now();
    for (;;) {
      const r = await prom.query(`count_over_time(up{namespace="${NS}",service="${NAME}"}[1m])`);
      if (Number(r[0]?.value[1] ?? 0) >= n && Date.now() - start > 1_100) return;
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  const poller = (f: ReturnType<typeof fakeCluster>, url = prom.url, timeoutMs = 3_000) => new SlaStatusPoller({
    prometheus: new PrometheusClient(url, { timeoutMs }), client: f.client, qwenServices: f.cache, log: pino({ level: process.env.QWEN_TEST_LOG ?? 'silent' }), intervalMs: 60_000,
  });

  it('reports NoTraffic before any request, then WithinBudget with values matching what was observed', async () => {
    const f = fakeCluster(qwenService());
    await poller(f).pollOnce();
    const first = f.current.status!.conditions!.find((c) => c.type === 'SLACompliant')!;
    expect(first).toMatchObject({ status: 'Unknown', reason: 'NoTraffic', observedGeneration: 3 });
    expect(f.applies[0]).toMatchObject({ manager: SLA_FIELD_MANAGER, subresource: 'status' });
    // Only our fields: the reconciler's conditions and counters are never in our apply.
    expect(Object.keys(f.applies[0]!.body.status as object).sort()).toEqual(['conditions', 'sla']);

    for (let i = 0; i < 98; i++) duration.labels('m', '').observe(0.4);
    duration.labels('m', 'internal').observe(0.1);
    duration.labels('m', 'invalid_request').observe(0.01); // the client's fault: not counted
    duration.labels('m', '').observe(5); // one slow request: 99/100 within 3s
    await waitScraped(3);
    await new Promise((r) => setTimeout(r, 1_200));

    const p = poller(f);
    if (process.env.QWEN_TEST_LOG) {
      process.stderr.write(JSON.stringify(await p.read(f.current as unknown as QwenService), null, 1) + '\n');
      process.stderr.write(JSON.stringify(await prom.query('gen_ai_server_request_duration_seconds_count')) + '\n');
    }
    expect((await p.pollOnce()).written).toBe(1);
    const cond = f.current.status!.conditions!.find((c) => c.type === 'SLACompliant')!;
    expect(cond).toMatchObject({ status: 'True', reason: 'WithinBudget' });
    const byName = Object.fromEntries(f.current.status!.sla!.objectives!.map((o) => [o.slo, o]));
    expect(Object.keys(byName).sort()).toEqual(['availability', 'error-rate', 'latency-p95']);
    // 1 server error in 100 counted requests = 1.00% (the budget is 1%: 0% left).
    expect(byName['error-rate']).toMatchObject({ objective: 'at most 1% of requests fail through the service\'s fault' });
    expect(byName['error-rate']!.measured).toMatch(/^1\.0+% errors$/);
    // 1 of 100 over 3s with a 5% budget: 80% of the budget left; the p95 falls in the (0, 0.5] bucket.
    expect(byName['latency-p95']!.budgetRemaining).toBe('80%');
    expect(byName['latency-p95']!.measured).toMatch(/^p95 (4\d\d|500)ms$/);
    expect(byName.availability!.measured).toBe('100.0% up');
    expect(f.current.status!.sla!.p95).toMatch(/^(4\d\d|500)ms$/);

    // Nothing moved: no write (the status does not churn).
    expect((await p.pollOnce()).written).toBe(0);
  }, 60_000);

  it('reads the series the compiled rules record once Prometheus loads them, with the same result', async () => {
    const f = fakeCluster(qwenService());
    const p = poller(f);
    await p.pollOnce();
    const raw = structuredClone(f.current.status!.sla!);
    await prom.setRules({ groups: compileSla(qwenService(), { runbookURL: 'https://example.invalid/runbook' }).groups });
    await waitForSeries(`${RECORD.errorRatio(3600)}{namespace="${NS}",service="${NAME}",slo="latency-p95"}`);
    await p.pollOnce();
    const recorded = f.current.status!.sla!;
    // Same rounded values whichever path they came from (no rewrite when the rules appear).
    expect(recorded.objectives!.map((o) => [o.slo, o.budgetRemaining])).toEqual(raw.objectives!.map((o) => [o.slo, o.budgetRemaining]));
    await prom.setRules({ groups: [] });
  }, 60_000);

  async function waitForSeries(expr: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!(await prom.query(expr)).length) {
      if (Date.now() > deadline) throw new Error(`no ${expr}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  it('turns False/ObjectiveMissed when the budget is spent, and BudgetBurning while the alert fires', async () => {
    const f = fakeCluster(qwenService());
    for (let i = 0; i < 60; i++) duration.labels('m', '').observe(8);
    await new Promise((r) => setTimeout(r, 2_500));
    const p = poller(f);
    await p.pollOnce();
    let cond = f.current.status!.conditions!.find((c) => c.type === 'SLACompliant')!;
    expect(cond).toMatchObject({ status: 'False', reason: 'ObjectiveMissed' });
    expect(cond.message).toMatch(/latency-p95: .* good over 7d \(objective 95% of requests complete within 3s, measured p95 \d+(\.\d)?s\)/);

    await prom.setRules({ groups: [{ name: 'fake', rules: [{ alert: 'QwenSLOBudgetBurn', expr: 'vector(1)', labels: { namespace: NS, qwenservice: NAME, slo: 'latency-p95', severity: 'critical' } }] }] });
    const deadline = Date.now() + 15_000;
    for (;;) {
      await p.pollOnce();
      cond = f.current.status!.conditions!.find((c) => c.type === 'SLACompliant')!;
      if (cond.reason === 'BudgetBurning' || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(cond).toMatchObject({ status: 'False', reason: 'BudgetBurning' });
    expect(cond.message).toMatch(/^QwenSLOBudgetBurn firing for latency-p95 \(critical, burn rate \d+(\.\d+)?x, budget left -\d+%/);
    await prom.setRules({ groups: [] });
  }, 60_000);

  it('says PrometheusUnreachable, keeps the last values, and a hung Prometheus costs at most the timeout', async () => {
    const f = fakeCluster(qwenService());
    await poller(f).pollOnce();
    const before = structuredClone(f.current.status!.sla!);
    await poller(f, 'http://127.0.0.1:9').pollOnce();
    const cond = f.current.status!.conditions!.find((c) => c.type === 'SLACompliant')!;
    expect(cond).toMatchObject({ status: 'Unknown', reason: 'PrometheusUnreachable' });
    expect(f.current.status!.sla!.objectives).toEqual(before.objectives);

    const hung = createServer(() => { /* never answers */ });
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const started = Date.now();
    const reading = await poller(f, `http://127.0.0.1:${(hung.address() as { port: number }).port}`, 500).read(f.current as unknown as QwenService);
    expect(reading.reachable).toBe(false);
    expect(Date.now() - started).toBeLessThan(3_000);
    hung.closeAllConnections();
    hung.close();
  }, 30_000);
});

// The SLA status loop against a Prometheus that misbehaves: one that never answers, one that
// drips a byte at a time forever, one that answers garbage, one that answers far too much. A real
// Prometheus cannot be made to do any of these, so the faults come from a local HTTP server (the
// well-behaved path runs against a real Prometheus 3 in slastatus.test.ts). Each fault must cost
// at most the query deadline, give SLACompliant=Unknown/PrometheusUnreachable, and never hold up
// a reconcile: the last test runs the whole operator on a real control plane beside a dripping
// Prometheus.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { checkQwenService } from '../../src/api/validate.ts';
import type { QwenService } from '../../src/api/qwenservice.ts';
import type { Cache } from '../../src/controller/informer.ts';
import { Manager } from '../../src/controller/manager.ts';
import { addSlaStatusLoop } from '../../src/commands/operator.ts';
import { operatorMetrics } from '../../src/controller/metrics.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { defaultRenderConfig, type KubeObject } from '../../src/render/common.ts';
import { PrometheusClient, PrometheusUnreachableError } from '../../src/slastatus/prometheus.ts';
import { SlaStatusPoller } from '../../src/slastatus/poller.ts';
import { startCluster, type Cluster } from '../cluster/cluster.ts';
import { apply, get, newNamespace, waitFor } from '../cluster/client.ts';

const log = pino({ level: process.env.QWEN_TEST_LOG ?? 'silent' });
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Faults a real Prometheus cannot produce, by name. */
const FAULTS: Record<string, Handler> = {
  // Accepts the request and never answers.
  silent: () => {},
  // Answers 200 at once, then one byte every 100 ms forever: a socket idle timer never fires.
  dripping: (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"status":"success","data":{"resultType":"vector","result":[');
    const t = setInterval(() => res.write(' '), 100);
    res.on('close', () => clearInterval(t));
  },
  // Headers only after a long while.
  'slow headers': (_req, res) => { const t = setTimeout(() => res.writeHead(200).end('{}'), 60_000); res.on('close', () => clearTimeout(t)); },
  // An HTML error page with 200 (a misconfigured proxy).
  'HTML page': (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Welcome to nginx</body></html>'),
  // JSON, but not a Prometheus answer.
  'JSON of the wrong shape': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success","data":{"resultType":"vector","result":"all good"}}'),
  'samples of the wrong shape': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":{"toString":1}}]}}'),
  'no status at all': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('[1,2,3]'),
  // A well-formed answer of ~16 MiB, sent fast: only a size cap stops it.
  'huge answer': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"status":"success","data":{"resultType":"vector","result":[');
    const sample = JSON.stringify({ metric: { __name__: 'x', pad: 'p'.repeat(200) }, value: [1, '1'] });
    let n = 0;
    const more = () => {
      while (n < 70_000) {
        n++;
        if (!res.write(`${n > 1 ? ',' : ''}${sample}`)) return void res.once('drain', more);
      }
      res.end(']}}');
    };
    more();
  },
  'huge declared length': (_req, res) => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(1 << 30) }); res.write('{'); },
};

async function serve(handler: Handler): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}
const close = (s: Server) => { s.closeAllConnections(); s.close(); };

function qwenService(): QwenService {
  const r = checkQwenService({
    apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService',
    metadata: { name: 'chat', namespace: 'team-a', generation: 1, uid: 'u-1' },
    spec: { gpu: { count: 0 }, sla: { latency: { p95: '3s' }, errorRate: '1%', availability: '99%' } },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

describe('Prometheus client: a hard deadline and a size cap', () => {
  it.each(Object.keys(FAULTS))('%s: PrometheusUnreachable within the deadline', async (fault) => {
    const { url, server } = await serve(FAULTS[fault]!);
    try {
      const prom = new PrometheusClient(url, { timeoutMs: 500, maxResponseBytes: 1 << 20 });
      const started = Date.now();
      const err = await prom.query('up').then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(PrometheusUnreachableError);
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      close(server);
    }
  }, 20_000);

  it('still reads a well-formed answer, and a query error stays a query error', async () => {
    const ok = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"0.5"]}]}}'));
    const bad = await serve((_req, res) => res.writeHead(400, { 'content-type': 'application/json' }).end('{"status":"error","errorType":"bad_data","error":"parse error"}'));
    try {
      expect(await new PrometheusClient(ok.url, { timeoutMs: 500 }).query('x')).toEqual([{ metric: { a: 'b' }, value: 0.5 }]);
      await expect(new PrometheusClient(bad.url, { timeoutMs: 500 }).query('x')).rejects.toThrow(/query failed: parse error/);
    } finally {
      close(ok.server);
      close(bad.server);
    }
  });
});

describe('SLA status loop', () => {
  it.each(['dripping', 'JSON of the wrong shape', 'huge answer'])('%s Prometheus: SLACompliant=Unknown/PrometheusUnreachable, one cycle bounded by the deadline', async (fault) => {
    const { url, server } = await serve(FAULTS[fault]!);
    const current = qwenService() as unknown as KubeObject & { status?: QwenService['status'] };
    const applies: KubeObject[] = [];
    const client = { async apply(body: KubeObject) { applies.push(structuredClone(body)); current.status = body.status as QwenService['status']; return current; } } as unknown as KubeClient;
    const cache = { get: () => current, list: () => [current], byIndex: () => [] } as Cache;
    try {
      const poller = new SlaStatusPoller({ prometheus: new PrometheusClient(url, { timeoutMs: 400, maxResponseBytes: 1 << 20 }), client, qwenServices: cache, log, intervalMs: 60_000 });
      const started = Date.now();
      const result = await poller.pollOnce();
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(result).toMatchObject({ services: 1, written: 1, unreachable: true });
      expect(current.status!.conditions!.find((c) => c.type === 'SLACompliant')).toMatchObject({ status: 'Unknown', reason: 'PrometheusUnreachable' });
    } finally {
      close(server);
    }
  }, 20_000);
});

describe('the operator beside a dripping Prometheus', () => {
  let cluster: Cluster;
  let prom: { url: string; server: Server };
  let manager: Manager | undefined;
  beforeAll(async () => {
    cluster = await startCluster({ crds: ['crds'] });
    prom = await serve(FAULTS.dripping!);
  }, 120_000);
  afterAll(async () => {
    await manager?.stop();
    if (prom) close(prom.server);
    await cluster?.stop();
  }, 60_000);

  it('reconciles at once while every SLA query hangs, and reports the Prometheus as unreachable', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const client = new KubeClient(kc);
    manager = new Manager({
      client, config: { ...defaultRenderConfig, workerImage: 'qwen-worker:test' }, log, metrics: operatorMetrics(),
      namespaces: [], concurrency: 2, monitoringCheckIntervalMs: 60_000, resyncIntervalMs: 600_000,
    });
    addSlaStatusLoop(manager, client, { prometheusURL: prom.url, intervalMs: 500, timeoutMs: 3_000 }, log);
    await manager.start();
    const ns = await newNamespace(cluster, 'drip');
    // Several QwenServices, so the SLA loop has a queue of hanging queries.
    for (const name of ['a', 'b', 'c']) await apply(cluster, { apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name, namespace: ns }, spec: { gpu: { count: 0 }, sla: { latency: { p95: '3s' }, errorRate: '1%' } } });
    const applied = Date.now();
    for (const name of ['a', 'b', 'c']) await waitFor(`Deployment ${name}`, () => get(cluster, 'apps/v1', 'Deployment', name, ns), 10_000, 50);
    expect(Date.now() - applied).toBeLessThan(3_000); // well under one SLA query deadline
    type Q = KubeObject & { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };
    const sla = await waitFor('SLACompliant=Unknown', async () => {
      const c = (await get<Q>(cluster, 'qwenops.io/v1alpha1', 'QwenService', 'a', ns))?.status?.conditions?.find((x) => x.type === 'SLACompliant');
      return c?.status === 'Unknown' ? c : undefined;
    }, 30_000, 250);
    expect(sla).toMatchObject({ reason: 'PrometheusUnreachable', message: expect.stringContaining('no complete answer within 3000 ms') });
    const ready = (await get<Q>(cluster, 'qwenops.io/v1alpha1', 'QwenService', 'a', ns))?.status?.conditions?.find((x) => x.type === 'Ready');
    expect(ready).toBeDefined();
  }, 90_000);
});

// A file:// model, whose file the operator cannot read, sized from what its worker reports: on a
// real apiserver (the shared test control plane), a real Prometheus 3 scrapes the worker's model
// facts and the operator's SLA loop hands them to sizing; the reconciler then writes status.model
// and SLAFeasible. The scraped /metrics is a small static server whose series come from the
// worker's own code (worker/src/model-facts.ts on the test model's header) rather than a running
// worker: loading the model here would cost a minute of CPU for nothing more (worker/test/
// server.test.ts checks that a loaded worker exports those very series).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { readGgufFileInfo } from '../../../worker/node_modules/node-llama-cpp/dist/index.js';
import { Registry } from '../../../worker/node_modules/prom-client/index.js';
import { modelFactsOf, registerModelFacts } from '../../../worker/src/model-facts.ts';
import { apply, get, installCrds, waitFor, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';
import { startOperator, type RunningOperator } from '../../support/operator.ts';
import { waitCondition, type Condition } from '../../support/qws-condition.ts';
import { startPrometheus, type Prometheus } from '../../e2e/support/monitoring.ts';
import { addSlaStatusLoop } from '../../../src/commands/operator.ts';
import { readLocalFacts } from '../../../src/sizing/local.ts';

const QWS = 'qwenops.io/v1alpha1';
const MODEL_PATH = join(process.env.QWEN_CACHE ?? join(homedir(), '.cache', 'qwen-operator'), 'models', 'gemma-3-270m-q4_k_m.gguf');
const SOURCE = 'file:///models/gemma-3-270m-q4_k_m.gguf';
type Qws = KubeObject & { status?: { conditions?: Condition[]; model?: Record<string, unknown> } };
type Deployment = KubeObject & { spec: { template: { spec: { containers: { resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }[] } } } };

let dir: string;
let exporter: Server;
let oldExporter: Server;
let prom: Prometheus;
let op: RunningOperator;
let ns: string;

const qws = (name: string): KubeObject => ({ apiVersion: QWS, kind: 'QwenService', metadata: { name, namespace: ns }, spec: { model: { source: SOURCE, contextSize: 1024, parallel: 2 }, gpu: { count: 0 } } });

const feasible = (name: string, status: string, reason: string) => waitCondition(ns, name, 'SLAFeasible', status, reason);

/** A /metrics server for one registry (what a worker's metrics port answers). */
async function serve(registry: Registry): Promise<Server> {
  const server = createServer((_req, res) => { void registry.metrics().then((t) => res.writeHead(200, { 'content-type': registry.contentType }).end(t)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'model-facts-'));
  const facts = modelFactsOf(await readGgufFileInfo(MODEL_PATH), statSync(MODEL_PATH).size);
  const registry = new Registry();
  registerModelFacts(registry, 'gemma', 'gemma-3-270m-q4_k_m.gguf', facts);
  // A worker still serving the model before (as during a rollout to this one).
  const previous = new Registry();
  registerModelFacts(previous, 'gemma', 'previous.gguf', { ...facts, layers: 36 });
  exporter = await serve(registry);
  oldExporter = await serve(previous);
  await installCrds(testCluster(), [join(import.meta.dirname, '..', '..', '..', 'crds', 'qwenops.io_qwenservices.yaml')]);
  ns = await testNamespace('op-model-facts');
  // `reported` has a worker that loaded its file; `waiting` only one serving another file.
  const address = (server: Server) => `127.0.0.1:${(server.address() as { port: number }).port}`;
  prom = await startPrometheus({
    dir: join(dir, 'prom'),
    targets: [{ address: address(exporter), namespace: ns, service: 'reported', pod: 'reported-0' }, { address: address(oldExporter), namespace: ns, service: 'waiting', pod: 'waiting-old' }],
  });
  op = await startOperator(testCluster().kubeconfigPath, { namespaces: [ns], config: { prometheusURL: prom.url }, sizing: { cpuBandwidthGBps: 20 } });
  addSlaStatusLoop(op.manager, op.client, { prometheusURL: prom.url, intervalMs: 1_000 }, pino({ level: process.env.QWEN_TEST_LOG ?? 'silent' }));
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await prom?.stop();
  for (const server of [exporter, oldExporter]) await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('a file:// model sized from its worker\'s report', () => {
  it('gets status.model as the operator\'s own reader reads the file, SLAFeasible from it, and the worker memory', async () => {
    await apply(testCluster(), qws('reported'));
    const c = await feasible('reported', 'True', 'WithinPhysicalBounds');
    expect(c.message).toMatch(/^needs [\d.]+ \w+ of host memory on the CPU; decode bound/);
    const stored = (await get<Qws>(testCluster(), QWS, 'QwenService', 'reported', ns))!;
    expect(stored.status!.model).toEqual({ source: SOURCE, ...(await readLocalFacts(MODEL_PATH)) });
    const d = await waitFor('Deployment reported with its memory', async () => {
      const x = await get<Deployment>(testCluster(), 'apps/v1', 'Deployment', 'reported', ns);
      return x?.spec.template.spec.containers[0]!.resources?.limits?.memory ? x : undefined;
    }, 30_000);
    const r = d.spec.template.spec.containers[0]!.resources!;
    expect(r.requests?.memory).toBe(r.limits!.memory);
  }, 90_000);

  it('stays Unknown/ModelHeaderUnavailable, saying what it waits for, while no worker that loaded its file reports', async () => {
    await waitFor('the other file\'s worker scraped', async () => (await prom.query(`gen_ai_server_model_info{namespace="${ns}",service="waiting"}`)).length > 0, 30_000, 250);
    await apply(testCluster(), qws('waiting'));
    const c = await feasible('waiting', 'Unknown', 'ModelHeaderUnavailable');
    expect(c.message).toContain('waiting for a worker to load it and report its facts');
    // Five SLA loop periods: the other file's facts, read each period, are never taken for this one's.
    await new Promise((r) => setTimeout(r, 5_000));
    const after = (await get<Qws>(testCluster(), QWS, 'QwenService', 'waiting', ns))!.status!;
    expect(after.model).toBeUndefined();
    expect(after.conditions!.find((x) => x.type === 'SLAFeasible')).toMatchObject({ status: 'Unknown', reason: 'ModelHeaderUnavailable' });
  }, 90_000);
});

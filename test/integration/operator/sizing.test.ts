// SLAFeasible on a real apiserver (the shared test control plane): the operator reads each model's
// GGUF head from a local https server (its own CA, given to the operator as a test would give it
// NODE_EXTRA_CA_CERTS; range requests only, an hf: source resolved and redirected as Hugging Face
// does) and reports, with the numbers, a model that cannot fit its GPU, a tokens/s floor the GPU
// cannot reach, one that fits (status.model, the worker's memory defaulted from the estimate), and
// a truncated or hostile head as Unknown with the reason — the operator carrying on meanwhile.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apply, get, installCrds, list, waitFor, type KubeObject } from '../../cluster/client.ts';
import { makePki } from '../../cluster/pki.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';
import { startOperator, type RunningOperator } from '../../support/operator.ts';
import { waitCondition, type Condition } from '../../support/qws-condition.ts';
import { gguf, qwen3Shaped4B } from '../../support/gguf-writer.ts';
import { parseGgufHead } from '../../../src/sizing/gguf.ts';
import { modelFacts } from '../../../src/sizing/facts.ts';
import { estimateMemory, RUNTIME_OVERHEAD_BYTES } from '../../../src/sizing/estimate.ts';

const QWS = 'qwenops.io/v1alpha1';
type Qws = KubeObject & { status?: { conditions?: Condition[]; model?: Record<string, unknown> } };
type KubeEvent = KubeObject & { reason: string; type: string; message: string; involvedObject: { name: string } };
type Deployment = KubeObject & { spec: { template: { spec: { containers: { resources: { requests?: Record<string, string>; limits?: Record<string, string> } }[] } } } };

const QWEN3 = qwen3Shaped4B();
const facts = modelFacts(parseGgufHead(QWEN3));
/** A metadata array claiming 2^50 u32s: a reader that believed it would allocate 4 PB. */
const HOSTILE = Buffer.concat([Buffer.from('GGUF'), gguf.u32(3), gguf.u64(0), gguf.u64(1), gguf.str('k'), gguf.u32(9), gguf.u32(4), gguf.u64(2 ** 50)]);
const FILES: Record<string, Buffer> = { '/blobs/qwen3': QWEN3, '/hostile.gguf': HOSTILE, '/truncated.gguf': QWEN3.subarray(0, 100_000) };

let dir: string;
let server: Server;
let base: string;
const seen: Array<{ path: string; range?: string }> = [];
let ns: string;
let op: RunningOperator;

/** Serves FILES with byte ranges only (a request without one is refused, so the operator can only read ranges). */
function rangeServer(key: string, cert: string): Server {
  return createServer({ key, cert }, (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    seen.push({ path, ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (path === '/acme/Qwen3-4B-GGUF/resolve/main/Qwen3-4B-Q4_K_M.gguf') { res.writeHead(302, { location: '/blobs/qwen3?signature=cdn' }).end(); return; }
    const file = FILES[path];
    if (!file) { res.writeHead(404).end(); return; }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m) { res.writeHead(400).end('range requests only'); return; }
    const start = Number(m[1]);
    if (start >= file.length) { res.writeHead(416, { 'content-range': `bytes */${file.length}` }).end(); return; }
    const end = Math.min(Number(m[2]), file.length - 1);
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${file.length}`, 'content-length': end - start + 1 }).end(file.subarray(start, end + 1));
  });
}

const qws = (name: string, source: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: QWS, kind: 'QwenService', metadata: { name, namespace: ns }, spec: { model: { source }, ...spec } });

const feasible = (name: string, status: string, reason: string) => waitCondition(ns, name, 'SLAFeasible', status, reason);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sizing-https-'));
  const pki = makePki(dir);
  server = rangeServer(readFileSync(pki.servingKey, 'utf8'), readFileSync(pki.servingCert, 'utf8'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  await installCrds(testCluster(), [join(import.meta.dirname, '..', '..', '..', 'crds', 'qwenops.io_qwenservices.yaml')]);
  ns = await testNamespace('op-sizing');
  op = await startOperator(testCluster().kubeconfigPath, {
    namespaces: [ns],
    sizing: { cpuBandwidthGBps: 20, fetch: { timeoutMs: 10_000, ca: readFileSync(pki.caCert) }, hfEndpoint: base },
  });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('SLAFeasible on a real apiserver', () => {
  it('False/InsufficientMemory with the numbers when contextSize × parallel cannot fit the GPU, a Warning Event, the URL redacted', async () => {
    await apply(testCluster(), qws('big', `${base}/blobs/qwen3?X-Amz-Signature=secret`, { model: { source: `${base}/blobs/qwen3?X-Amz-Signature=secret`, contextSize: 32768, parallel: 8 }, gpu: { count: 1, product: 'NVIDIA-L4' } }));
    const c = await feasible('big', 'False', 'InsufficientMemory');
    const need = estimateMemory(facts, { contextSize: 32768, parallel: 8, kvCacheType: 'f16' }).device;
    expect(c.message).toContain(`needs ${(need / 1024 ** 3).toFixed(1)} GiB`);
    expect(c.message).toContain('but NVIDIA-L4 leaves 22.8 GiB');
    expect(c.message).toMatch(/at most \d+ tokens of KV cache fit \(contextSize × parallel\): e\.g\. contextSize 32768 × parallel 4, or contextSize \d+ × parallel 8/);
    const event = await waitFor('Warning Event InsufficientMemory', async () => (await list<KubeEvent>(testCluster(), 'v1', 'Event', ns)).find((e) => e.involvedObject.name === 'big' && e.reason === 'InsufficientMemory' && e.type === 'Warning'), 30_000);
    expect(event.message).toContain('needs');
    const stored = (await get<Qws>(testCluster(), QWS, 'QwenService', 'big', ns))!;
    expect(stored.status!.model).toMatchObject({ source: `${base}/blobs/qwen3`, architecture: 'qwen3', parameters: facts.parameters, quantization: 'Q4_K_M', layers: 36, kvHeads: 8, headDim: 128, trainedContext: 262144 });
    expect(JSON.stringify(stored.status)).not.toContain('secret');
    // An infeasible SLA blocks nothing: the workload is there.
    await waitFor('Deployment big', () => get<Deployment>(testCluster(), 'apps/v1', 'Deployment', 'big', ns), 30_000);
    // Only ranges were read, and not much more than the head.
    const reads = seen.filter((s) => s.path === '/blobs/qwen3');
    expect(reads.every((s) => s.range)).toBe(true);
  }, 90_000);

  it('False/TokensPerSecondUnreachable with the bound and what would reach it; an hf: source resolved and redirected', async () => {
    await apply(testCluster(), qws('fast', 'hf:acme/Qwen3-4B-GGUF:Q4_K_M', { model: { source: 'hf:acme/Qwen3-4B-GGUF:Q4_K_M', contextSize: 4096, parallel: 1 }, gpu: { count: 1, product: 'NVIDIA-L4' }, sla: { outputTokensPerSecond: { min: 200 } } }));
    const c = await feasible('fast', 'False', 'TokensPerSecondUnreachable');
    expect(c.message).toContain(`outputTokensPerSecond.min 200 is above the ${(300e9 / facts.decodeBytes).toFixed(0)} tokens/s per sequence NVIDIA-L4 can reach at parallel 1`);
    expect(c.message).toContain(`would reach it: a quantization of at most ${((300e9 / 200) * 8 / facts.parameters).toFixed(1)} bits per weight`);
    expect(seen.some((s) => s.path === '/acme/Qwen3-4B-GGUF/resolve/main/Qwen3-4B-Q4_K_M.gguf')).toBe(true);
  }, 90_000);

  it('True/WithinPhysicalBounds with the headroom, and the worker\'s memory defaulted from the estimate', async () => {
    await apply(testCluster(), qws('fits', `${base}/blobs/qwen3`, { model: { source: `${base}/blobs/qwen3`, contextSize: 8192, parallel: 2 }, gpu: { count: 1, product: 'NVIDIA-L4' }, sla: { outputTokensPerSecond: { min: 20 } } }));
    const c = await feasible('fits', 'True', 'WithinPhysicalBounds');
    expect(c.message).toMatch(/^needs \d+\.\d GiB of 22\.8 GiB on NVIDIA-L4 \(\d+\.\d GiB headroom\); decode bound \d+ tokens\/s per sequence at parallel 2, \d+\.\d× the floor of 20$/);
    const memory = `${Math.ceil((RUNTIME_OVERHEAD_BYTES + 4 * facts.vocabSize * 2) / 2 ** 20)}Mi`;
    const dep = await waitFor('Deployment fits with memory', async () => {
      const d = await get<Deployment>(testCluster(), 'apps/v1', 'Deployment', 'fits', ns);
      return d?.spec.template.spec.containers[0]!.resources.requests?.memory ? d : undefined;
    }, 30_000);
    expect(dep.spec.template.spec.containers[0]!.resources).toEqual({ requests: { memory, 'nvidia.com/gpu': '1' }, limits: { memory, 'nvidia.com/gpu': '1' } });
    // Created with it (the first reconcile waited for the header): no second rollout to add it.
    expect((dep.metadata as { generation?: number }).generation).toBe(1);
  }, 90_000);

  it('Unknown with the reason for a truncated or hostile head, and the operator carries on', async () => {
    await apply(testCluster(), qws('cut', `${base}/truncated.gguf`, { gpu: { count: 1, product: 'NVIDIA-L4' } }));
    await apply(testCluster(), qws('evil', `${base}/hostile.gguf`, { gpu: { count: 1, product: 'NVIDIA-L4' } }));
    const cut = await feasible('cut', 'Unknown', 'ModelHeaderUnreadable');
    expect(cut.message).toMatch(/^cannot read the model's GGUF header: the file is 100000 bytes long and ends inside its head/);
    const evil = await feasible('evil', 'Unknown', 'ModelHeaderUnreadable');
    expect(evil.message).toMatch(/larger than the \d+ bytes allowed/);
    // No status.model, and no memory made up for them.
    const dep = await waitFor('Deployment evil', () => get<Deployment>(testCluster(), 'apps/v1', 'Deployment', 'evil', ns), 30_000);
    expect(dep.spec.template.spec.containers[0]!.resources.requests?.memory).toBeUndefined();
    expect((await get<Qws>(testCluster(), QWS, 'QwenService', 'evil', ns))!.status!.model).toBeUndefined();
    // Still reconciling others.
    await apply(testCluster(), qws('after', `${base}/blobs/qwen3`, { gpu: { count: 0 } }));
    await feasible('after', 'True', 'WithinPhysicalBounds');
  }, 90_000);
});

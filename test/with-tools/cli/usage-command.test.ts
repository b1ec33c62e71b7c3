// `qwen-operator usage` as users run it (the bin shim) against a real Prometheus 3 that scrapes a
// real router (in this process) in front of a real worker (the test model): the table and the JSON
// show the requests, the workers' token counts and the refusals the test sent, per tenant.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from '../../../router/node_modules/openai/index.mjs';
import { routerFor, startWorker, testModelPath, until, type TestRouter, type WorkerProc } from '../../../router/test/support.ts';
import { startPrometheus, type Prometheus } from '../../e2e/support/monitoring.ts';
import { routerServiceOf } from '../../../src/sla/sli.ts';
import type { TenantUsage } from '../../../src/commands/usage.ts';

let worker: WorkerProc | undefined;
let router: TestRouter | undefined;
let prom: Prometheus | undefined;
let tmp: string;
const sent = { alpha: { prompt: 0, completion: 0 }, beta: { prompt: 0, completion: 0 } };

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('bin/qwen-operator', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'qwen-usage-test-'));
  const keys = join(tmp, 'keys');
  mkdirSync(keys);
  writeFileSync(join(keys, 'alpha'), 'key-alpha\n');
  writeFileSync(join(keys, 'beta'), 'key-beta\n');
  worker = await startWorker(['--model', testModelPath(), '--model-name', 'test', '--parallel', '2', '--threads', '1', '--gpu', 'false']);
  router = await routerFor([worker.url], [`--api-key-file=${keys}`, `--tenants=${JSON.stringify({ alpha: { requestsPerMinute: 2 }, beta: {} })}`]);
  prom = await startPrometheus({
    dir: join(tmp, 'prometheus'),
    targets: [{ address: new URL(router.admin).host, namespace: 'team-a', service: routerServiceOf('chat'), pod: 'chat-router-0' }],
  });
  // The zeros first: increase() counts from the first sample it has.
  await until('the first scrape', async () => (await prom!.query('qwen_router_tenant_requests_total')).length > 0, 30_000);
  const ask = async (tenant: 'alpha' | 'beta') => {
    const c = new OpenAI({ baseURL: `${router!.url}/v1`, apiKey: `key-${tenant}`, maxRetries: 0 });
    const a = await c.chat.completions.create({ model: 'test', messages: [{ role: 'user', content: 'Say hi.' }], max_tokens: 4, temperature: 0 });
    sent[tenant].prompt += a.usage!.prompt_tokens;
    sent[tenant].completion += a.usage!.completion_tokens;
  };
  await ask('alpha');
  await ask('alpha');
  await expect(ask('alpha')).rejects.toMatchObject({ status: 429 });
  await ask('beta');
  await until('the requests scraped', async () => (await prom!.query('sum(qwen_router_tenant_requests_total)'))[0]?.value[1] === '3', 30_000);
}, 180_000);

afterAll(async () => {
  await router?.drain();
  await Promise.all([worker?.stop(), prom?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe('qwen-operator usage', () => {
  it('per QwenService and tenant: requests, the workers\' token counts, refusals by reason (JSON)', async () => {
    const r = await cli(['usage', '--prometheus-url', prom!.url, '--since', '10m', '--namespace', 'team-a', '--output', 'json']);
    expect([r.code, r.err]).toEqual([0, '']);
    const rows = JSON.parse(r.out) as TenantUsage[];
    const of = (t: string) => rows.find((x) => x.tenant === t);
    expect(of('alpha')).toMatchObject({ namespace: 'team-a', qwenService: 'chat', requests: 2, promptTokens: sent.alpha.prompt, completionTokens: sent.alpha.completion, refusals: { requests: 1 }, serviceErrors: 0 });
    expect(of('beta')).toMatchObject({ namespace: 'team-a', qwenService: 'chat', requests: 1, promptTokens: sent.beta.prompt, completionTokens: sent.beta.completion, refusals: {} });
    expect(of('default')).toMatchObject({ requests: 0 });
  });

  it('the table, another namespace empty, a bad --since refused', async () => {
    const r = await cli(['usage', '--prometheus-url', prom!.url, '--since', '10m']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^NAMESPACE\s+QWENSERVICE\s+TENANT\s+REQUESTS/);
    expect(r.out).toMatch(new RegExp(`team-a\\s+chat\\s+alpha\\s+2\\s+${sent.alpha.prompt}\\s+${sent.alpha.completion}\\s+\\S+\\s+requests=1\\s+0`));
    const none = await cli(['usage', '--prometheus-url', prom!.url, '--namespace', 'elsewhere']);
    expect(none.out).toMatch(/no tenant usage in the last 30d in namespace elsewhere/);
    const bad = await cli(['usage', '--since', 'a month']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/not a Prometheus range/);
  });
});

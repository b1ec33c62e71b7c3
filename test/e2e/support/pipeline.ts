// The glue between the operator's objects on the cluster and the monitoring processes on loopback:
// what prometheus-operator would do with them (rule groups from the PrometheusRule, scrape labels
// from the ServiceMonitor), the Alertmanager configuration `qwen-operator render --format
// alertmanager` prints (webhook URLs written to the files it references), a real worker started
// with the arguments of the Deployment the operator rendered, and steady load through the official
// openai client. Shared by the e2e tests and scripts/stack.ts.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump, load } from 'js-yaml';
import OpenAI from '../../../worker/node_modules/openai/index.mjs';
import { get, list, type ClusterInfo, type KubeObject } from '../../cluster/client.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const MODEL_PATH = join(process.env.QWEN_CACHE ?? join(homedir(), '.cache', 'qwen-operator'), 'models', 'gemma-3-270m-q4_k_m.gguf');

/** `qwen-operator render -f FILE --format F [--explain]`, as a user runs it. */
export function renderCli(file: string, format: string, explain = false): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(join(ROOT, 'bin', 'qwen-operator'), ['render', '-f', file, '--format', format, ...(explain ? ['--explain'] : [])], { maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`qwen-operator render --format ${format}: ${stderr || err.message}`));
      else resolve(explain ? `${stdout}${stderr}` : stdout);
    });
  });
}

type AmConfig = {
  global?: Record<string, unknown>;
  route: { receiver: string; routes?: unknown[]; [k: string]: unknown };
  receivers: { name: string; [k: string]: unknown }[];
  inhibit_rules?: unknown[];
  [k: string]: unknown;
};

/**
 * One Alertmanager configuration for several QwenServices, merged the way prometheus-operator
 * merges AlertmanagerConfigs: each rendered tree becomes a child of one root, restricted to its
 * service by matchers, its receivers prefixed `<namespace>/<name>/` so equal names cannot collide.
 * Every credential file the rendered receivers reference (`*_file`) is written into `dir`: webhook
 * URLs get `webhookURL`, any other credential a placeholder (the tests use webhooks only).
 */
export function mergeAlertmanagerConfigs(rendered: { namespace: string; name: string; text: string }[], webhookURL: string, dir: string): AmConfig {
  mkdirSync(dir, { recursive: true });
  let files = 0;
  const credentials = (node: unknown, key?: string): unknown => {
    if (Array.isArray(node)) return node.map((n) => credentials(n, key));
    if (node && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node as Record<string, unknown>).map(([k, v]) => {
        if (k.endsWith('_file') && typeof v === 'string') {
          const f = join(dir, `credential-${files++}`);
          writeFileSync(f, key === 'webhook_configs' && k === 'url_file' ? webhookURL : 'placeholder');
          return [k, f];
        }
        return [k, credentials(v, k.endsWith('_configs') ? k : key)];
      }));
    }
    return node;
  };
  const renameReceivers = (route: Record<string, unknown>, prefix: string): Record<string, unknown> => ({
    ...route,
    ...(typeof route.receiver === 'string' ? { receiver: `${prefix}${route.receiver}` } : {}),
    ...(Array.isArray(route.routes) ? { routes: route.routes.map((r) => renameReceivers(r as Record<string, unknown>, prefix)) } : {}),
  });
  const root: AmConfig = { route: { receiver: 'null', group_by: ['alertname', 'namespace', 'qwenservice', 'slo'], routes: [] }, receivers: [{ name: 'null' }], inhibit_rules: [] };
  for (const { namespace, name, text } of rendered) {
    const c = load(text) as AmConfig;
    const prefix = `${namespace}/${name}/`;
    for (const r of c.receivers ?? []) root.receivers.push({ ...(credentials(r) as AmConfig['receivers'][number]), name: `${prefix}${r.name}` });
    const tree = renameReceivers(c.route, prefix);
    const matchers = [`namespace="${namespace}"`, `qwenservice="${name}"`, ...((tree.matchers as string[] | undefined) ?? [])];
    root.route.routes!.push({ ...tree, matchers });
    root.inhibit_rules!.push(...(c.inhibit_rules ?? []));
    if (c.global && !root.global) root.global = c.global;
  }
  return root;
}

/** The rule groups of the PrometheusRule the operator created for a QwenService. */
export async function ruleGroupsOf(cluster: ClusterInfo, namespace: string, name: string): Promise<{ groups: unknown[] }> {
  const rules = await list<KubeObject & { spec: { groups: unknown[] } }>(cluster, 'monitoring.coreos.com/v1', 'PrometheusRule', namespace, `qwenops.io/qwenservice=${name}`);
  if (!rules.length) throw new Error(`no PrometheusRule for ${namespace}/${name}`);
  return { groups: rules.flatMap((r) => r.spec.groups) };
}

/** The worker arguments of the Deployment the operator rendered (we run the same worker locally). */
export async function deploymentArgs(cluster: ClusterInfo, namespace: string, name: string): Promise<string[]> {
  const d = await get<KubeObject & { spec: { template: { spec: { containers: { name: string; args?: string[]; command?: string[] }[] } } } }>(cluster, 'apps/v1', 'Deployment', name, namespace);
  if (!d) throw new Error(`no Deployment ${namespace}/${name}`);
  const c = d.spec.template.spec.containers[0]!;
  return [...(c.command ?? []).slice(1), ...(c.args ?? [])];
}

export function flagValue(args: string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i]!.startsWith(`${flag}=`)) return args[i]!.slice(flag.length + 1);
  }
  return undefined;
}

export type LocalWorker = { child: ChildProcess; url: string; port: number; logFile: string; kill(signal?: NodeJS.Signals): Promise<void> };

/** The real worker (worker/bin/qwen-worker) on loopback, serving the cached test model. */
export async function startLocalWorker(o: { dir: string; sloBuckets?: string; modelName: string; parallel?: number; port?: number; logName?: string; threads?: number }): Promise<LocalWorker> {
  mkdirSync(o.dir, { recursive: true });
  const logFile = join(o.dir, o.logName ?? 'worker.log');
  const fd = openSync(logFile, 'a');
  const args = ['--model', MODEL_PATH, '--host', '127.0.0.1', '--port', String(o.port ?? 0), '--parallel', String(o.parallel ?? 2), '--model-name', o.modelName, '--context-size', '1024'];
  if (o.sloBuckets) args.push('--slo-buckets', o.sloBuckets);
  if (o.threads) args.push('--threads', String(o.threads));
  const child = spawn(join(ROOT, 'worker', 'bin', 'qwen-worker'), args, { stdio: ['ignore', 'pipe', fd] });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (j.port && /listening/.test(j.msg ?? '')) resolve(j.port);
        } catch { /* not JSON */ }
      }
    });
    void exited.then(() => reject(new Error(`worker exited (${child.exitCode}) before listening; see ${logFile}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while ((await fetch(`${url}/readyz`).catch(() => undefined))?.status !== 200) {
    if (child.exitCode !== null) throw new Error(`worker exited (${child.exitCode}); see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`worker not ready in 120 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child, url, port, logFile,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      // A worker frozen with SIGSTOP (the stack's breach trigger) only acts on a signal once continued.
      if (signal !== 'SIGKILL') child.kill('SIGCONT');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export type LoadStats = { ok: number; failed: number; durations: number[]; ttfts: number[] };
export type Load = { stats: LoadStats; stop(): Promise<void> };

/** Steady load with the official openai client: one streamed chat completion every `periodMs`. */
export function steadyLoad(baseURL: string, o: { model: string; periodMs: number; maxTokens: number; concurrency?: number }): Load {
  const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
  const stats: LoadStats = { ok: 0, failed: 0, durations: [], ttfts: [] };
  let stopped = false;
  // stop() aborts what is in flight: a frozen or dead worker must not hold up a shutdown.
  const abort = new AbortController();
  const inflight = new Set<Promise<void>>();
  const one = async (i: number) => {
    const start = performance.now();
    let first: number | undefined;
    try {
      const stream = await client.chat.completions.create({
        model: o.model, stream: true, max_tokens: o.maxTokens, temperature: 0, seed: i,
        messages: [{ role: 'user', content: `Count from ${i % 10} to ${(i % 10) + 5}.` }],
      }, { signal: abort.signal });
      for await (const chunk of stream) if (first === undefined && chunk.choices[0]?.delta?.content) first = performance.now();
      stats.durations.push((performance.now() - start) / 1000);
      if (first !== undefined) stats.ttfts.push((first - start) / 1000);
      stats.ok++;
    } catch {
      if (!abort.signal.aborted) stats.failed++;
    }
  };
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      if (inflight.size < (o.concurrency ?? 2)) {
        const p = one(i).finally(() => inflight.delete(p));
        inflight.add(p);
      }
      await new Promise((r) => setTimeout(r, o.periodMs));
    }
  })();
  return {
    stats,
    async stop() {
      stopped = true;
      await loop;
      const done = Promise.all(inflight);
      const t = setTimeout(() => abort.abort(), 2_000);
      await done;
      clearTimeout(t);
    },
  };
}

export function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

/** Writes a YAML document (for render -f). */
export function writeYaml(path: string, obj: unknown): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, dump(obj, { lineWidth: -1 }));
  return path;
}

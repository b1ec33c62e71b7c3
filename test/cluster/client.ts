// Talking to a test cluster from anywhere (jest workers, the dev command, globalSetup): a small
// HTTPS client with the admin client certificate, discovery-based resource paths, server-side
// apply with fieldValidation=Strict, CRD installation, namespaces, kwok nodes, kubectl.
// Depends only on node: and js-yaml, so it loads fast; client-node users call kubeConfig().
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { binDir } from '../support/tools.ts';

/** Everything a process needs to reach a running test cluster; written as cluster.json in its run dir. */
export interface ClusterInfo {
  server: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  kubeconfigPath: string;
  etcdUrl: string;
  runDir: string;
  /** The processes running: etcd, kube-apiserver, and any of kube-controller-manager, kube-scheduler, kwok. */
  components?: string[];
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface KubeResponse {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** An apiserver answer that was not 2xx; `status`/`body` carry the Status object. */
export class KubeError extends Error {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(method: string, path: string, status: number, body: any, text: string) {
    super(`${method} ${path}: ${status} ${body?.message ?? text.slice(0, 500)}`);
    this.status = status;
    this.body = body;
  }
}

export function loadClusterInfo(path: string): ClusterInfo {
  return JSON.parse(readFileSync(path, 'utf8')) as ClusterInfo;
}

const agents = new Map<string, Agent>();
function agentFor(info: ClusterInfo): Agent {
  let a = agents.get(info.server);
  if (!a) {
    a = new Agent({
      ca: readFileSync(info.caFile),
      cert: readFileSync(info.certFile),
      key: readFileSync(info.keyFile),
      keepAlive: false,
    });
    agents.set(info.server, a);
  }
  return a;
}

export interface RequestOptions {
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
}

/** One HTTPS request to the apiserver. Resolves for every HTTP status; see kubeCall for throwing. */
export function kubeRequest(info: ClusterInfo, method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<KubeResponse> {
  const url = new URL(path, info.server);
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      agent: agentFor(info),
      headers: {
        accept: 'application/json',
        ...(payload !== undefined ? { 'content-type': opts.contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
      },
      timeout: opts.timeoutMs ?? 30_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = undefined;
        try { parsed = JSON.parse(text); } catch { /* not JSON (e.g. /readyz) */ }
        resolve({ status: res.statusCode ?? 0, text, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** kubeRequest that throws KubeError on a non-2xx status and returns the parsed body. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function kubeCall(info: ClusterInfo, method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<any> {
  const res = await kubeRequest(info, method, path, body, opts);
  if (res.status < 200 || res.status >= 300) throw new KubeError(method, path, res.status, res.body, res.text);
  return res.body;
}

// --- discovery -----------------------------------------------------------------------------
interface ApiResource { name: string; kind: string; namespaced: boolean }
const discovery = new Map<string, ApiResource[]>();

async function resourcesOf(info: ClusterInfo, apiVersion: string, refresh: boolean): Promise<ApiResource[]> {
  const key = `${info.server} ${apiVersion}`;
  const cached = discovery.get(key);
  if (cached && !refresh) return cached;
  const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const res = await kubeRequest(info, 'GET', path);
  const list: ApiResource[] = res.status === 200 ? (res.body.resources as ApiResource[]).filter((r) => !r.name.includes('/')) : [];
  discovery.set(key, list);
  return list;
}

/** The REST path of a kind (collection when name is omitted), found through discovery. */
export async function resourcePath(info: ClusterInfo, apiVersion: string, kind: string, namespace?: string, name?: string): Promise<string> {
  let r = (await resourcesOf(info, apiVersion, false)).find((x) => x.kind === kind);
  if (!r) r = (await resourcesOf(info, apiVersion, true)).find((x) => x.kind === kind);
  if (!r) throw new Error(`the apiserver serves no ${kind} in ${apiVersion}`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = r.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? 'default')}` : '';
  return `${base}${ns}/${r.name}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

export interface ApplyOptions {
  fieldManager?: string;
  /** Strict (default) rejects unknown and duplicate fields; Warn/Ignore as in kubectl. */
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
  force?: boolean;
  dryRun?: boolean;
  subresource?: 'status';
}

/** Server-side apply of one object (fieldManager qwen-test, force, fieldValidation=Strict by default). */
export async function apply<T = KubeObject>(info: ClusterInfo, obj: KubeObject, opts: ApplyOptions = {}): Promise<T> {
  const path = await resourcePath(info, obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
  return kubeCall(info, 'PATCH', opts.subresource ? `${path}/${opts.subresource}` : path, obj, {
    contentType: 'application/apply-patch+yaml',
    query: {
      fieldManager: opts.fieldManager ?? 'qwen-test',
      fieldValidation: opts.fieldValidation ?? 'Strict',
      force: opts.force ?? true,
      dryRun: opts.dryRun ? 'All' : undefined,
    },
  });
}

/** POST (create) an object with fieldValidation=Strict. */
export async function create<T = KubeObject>(info: ClusterInfo, obj: KubeObject, fieldValidation: 'Strict' | 'Warn' | 'Ignore' = 'Strict'): Promise<T> {
  const path = await resourcePath(info, obj.apiVersion, obj.kind, obj.metadata.namespace);
  return kubeCall(info, 'POST', path, obj, { query: { fieldValidation, fieldManager: 'qwen-test' } });
}

export async function get<T = KubeObject>(info: ClusterInfo, apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined> {
  const res = await kubeRequest(info, 'GET', await resourcePath(info, apiVersion, kind, namespace, name));
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new KubeError('GET', kind, res.status, res.body, res.text);
  return res.body as T;
}

export async function list<T = KubeObject>(info: ClusterInfo, apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<T[]> {
  const body = await kubeCall(info, 'GET', await resourcePath(info, apiVersion, kind, namespace), undefined, { query: { labelSelector } });
  return body.items as T[];
}

export async function remove(info: ClusterInfo, apiVersion: string, kind: string, name: string, namespace?: string, propagationPolicy: 'Background' | 'Foreground' | 'Orphan' = 'Background'): Promise<void> {
  const res = await kubeRequest(info, 'DELETE', await resourcePath(info, apiVersion, kind, namespace, name), { propagationPolicy });
  if (res.status !== 404 && (res.status < 200 || res.status >= 300)) throw new KubeError('DELETE', kind, res.status, res.body, res.text);
}

/** Polls fn until it returns a value other than undefined/false; throws with `what` after timeoutMs.
 * An error thrown by fn is retried unless it has `fatal: true` (then it ends the wait at once). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      if ((e as { fatal?: boolean } | null)?.fatal) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// --- YAML / CRDs ---------------------------------------------------------------------------
/** Objects of every YAML file named (a directory means its *.yaml / *.yml files, sorted). */
export function readManifests(paths: string[]): KubeObject[] {
  const files: string[] = [];
  for (const p of paths) {
    if (statSync(p).isDirectory()) {
      for (const f of readdirSync(p).sort()) if (/\.ya?ml$/.test(f)) files.push(join(p, f));
    } else files.push(p);
  }
  return files.flatMap((f) => (loadAll(readFileSync(f, 'utf8')) as (KubeObject | null)[]).filter((o): o is KubeObject => !!o && typeof o === 'object'));
}

/** Applies the CRDs in the given files/directories (Strict) and waits until each is Established. */
export async function installCrds(info: ClusterInfo, paths: string[], timeoutMs = 60_000): Promise<string[]> {
  const crds = readManifests(paths).filter((o) => o.kind === 'CustomResourceDefinition');
  if (crds.length === 0) throw new Error(`no CustomResourceDefinition in ${paths.join(', ')}`);
  for (const crd of crds) await apply(info, crd);
  for (const crd of crds) {
    await waitFor(`CRD ${crd.metadata.name} Established`, async () => {
      const cur = await get<{ status?: { conditions?: { type: string; status: string }[] } }>(info, 'apiextensions.k8s.io/v1', 'CustomResourceDefinition', crd.metadata.name);
      return cur?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    }, timeoutMs);
  }
  discovery.clear();
  return crds.map((c) => c.metadata.name);
}

// --- namespaces and nodes ------------------------------------------------------------------
/** Creates a namespace `<prefix>-<random>` with the given labels; returns its name. */
export async function newNamespace(info: ClusterInfo, prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40)}-${randomBytes(3).toString('hex')}`;
  await kubeCall(info, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  // With the serviceaccount controller running, pods are admitted only once `default` exists.
  if (await kubeRequest(info, 'GET', '/api/v1/namespaces/kube-system/serviceaccounts/default').then((r) => r.status === 200)) {
    await waitFor(`serviceaccount ${name}/default`, async () =>
      (await kubeRequest(info, 'GET', `/api/v1/namespaces/${name}/serviceaccounts/default`)).status === 200, 30_000);
  }
  return name;
}

/** Annotation kwok's --manage-nodes-with-annotation-selector matches. */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export interface FakeNodeSpec {
  name: string;
  /** nvidia.com/gpu capacity; 0 or absent = a CPU node. */
  gpus?: number;
  /** nvidia.com/gpu.product label (GPU nodes), e.g. NVIDIA-L4. */
  product?: string;
  cpu?: string;
  memory?: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
}

export function fakeNode(spec: FakeNodeSpec): KubeObject {
  const gpus = spec.gpus ?? 0;
  const resources: Record<string, string> = { cpu: spec.cpu ?? '32', memory: spec.memory ?? '256Gi', pods: '110', 'ephemeral-storage': '1Ti' };
  if (gpus > 0) resources['nvidia.com/gpu'] = String(gpus);
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': spec.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok',
    ...(gpus > 0 ? { 'nvidia.com/gpu.present': 'true', 'nvidia.com/gpu.count': String(gpus), 'nvidia.com/gpu.product': spec.product ?? 'NVIDIA-L4' } : {}),
    ...spec.labels,
  };
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: spec.name, labels, annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' } },
    spec: { taints: spec.taints ?? [] },
    status: {
      allocatable: resources, capacity: resources,
      nodeInfo: { architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'fake', kubeProxyVersion: 'fake', containerRuntimeVersion: 'kwok', kernelVersion: '', osImage: '', bootID: '', machineID: '', systemUUID: '' },
    },
  };
}

/** Registers a kwok-managed node and waits until kwok reports it Ready (requires kwok running). */
export async function addNode(info: ClusterInfo, spec: FakeNodeSpec, waitReady = true): Promise<void> {
  await kubeCall(info, 'POST', '/api/v1/nodes', fakeNode(spec));
  if (waitReady) await waitNodeReady(info, spec.name);
}

export function addGpuNode(info: ClusterInfo, name: string, gpus: number, product = 'NVIDIA-L4', extra: Partial<FakeNodeSpec> = {}): Promise<void> {
  return addNode(info, { ...extra, name, gpus, product });
}

export async function waitNodeReady(info: ClusterInfo, name: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`node ${name} Ready without the not-ready taint`, async () => {
    const n = await get<{ spec?: { taints?: { key: string }[] }; status?: { conditions?: { type: string; status: string }[] } }>(info, 'v1', 'Node', name);
    const ready = n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const tainted = n?.spec?.taints?.some((t) => t.key.startsWith('node.kubernetes.io/'));
    return ready && !tainted;
  }, timeoutMs);
}

// --- kubectl -------------------------------------------------------------------------------
export interface ExecResult { code: number; stdout: string; stderr: string }

/** Runs the cached kubectl against the cluster; never throws on a non-zero exit. */
export function kubectl(info: ClusterInfo, args: string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(join(binDir, 'kubectl'), ['--kubeconfig', info.kubeconfigPath, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') { reject(err); return; }
      resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

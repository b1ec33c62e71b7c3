// The worker workload as src/render/workload.ts renders it: the pod spec's GPU resources and
// scheduling, Pod Security "restricted", the worker's arguments, the API key mount, probes, the
// rollout strategy, the Service and PodDisruptionBudget, and spec.replicas with and without
// spec.autoscaling (src/render/scaledobject.ts takes replicas away when KEDA owns them).
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { defaultRenderConfig, type KubeObject, type RenderConfig } from '../../../src/render/common.ts';
import { OWNED_KINDS, kindKey, renderAll } from '../../../src/render/index.ts';
import { SCALED_OBJECT_KEY } from '../../../src/plan/kinds.ts';
import { sloBucketBoundaries, slosOf } from '../../../src/sla/index.ts';
import { parseConfig } from '../../../worker/src/config.ts';
import { WORKER_DEFAULT } from '../../../worker/src/contract.ts';
import {
  API_KEY_DIR, API_KEY_FILE, MODEL_CACHE_PATH, PROMPT_CACHE_PATH, renderDeployment, renderPodDisruptionBudget, renderService, renderWorkload, servedModelName, workerArgs,
} from '../../../src/render/workload.ts';
import { resolvePlan } from '../../../src/plan/index.ts';

type Probe = { httpGet: { path: string; port: string }; periodSeconds: number; failureThreshold: number; timeoutSeconds: number };
type Container = {
  name: string; image: string; args: string[];
  ports: { name: string; containerPort: number; protocol: string }[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  startupProbe: Probe; readinessProbe: Probe; livenessProbe: Probe;
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
};
type Toleration = { key?: string; operator?: string; value?: string; effect?: string };
type PodSpec = Record<string, unknown> & {
  securityContext: Record<string, unknown>;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  affinity?: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: { matchExpressions: { key: string; operator: string; values: string[] }[] }[] } } };
  containers: Container[];
  volumes: (Record<string, unknown> & { name: string })[];
};
type DeploymentSpec = { replicas?: number; strategy: { type: string; rollingUpdate: { maxSurge: number; maxUnavailable: number } }; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };

const qws = (spec: Record<string, unknown> = {}) =>
  parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a', uid: 'uid-1' }, spec });
const deploymentOf = (spec: Record<string, unknown>, config: RenderConfig = defaultRenderConfig) => renderDeployment(resolvePlan(qws(spec), config)).spec as DeploymentSpec;
const podOf = (spec: Record<string, unknown>, config?: RenderConfig) => deploymentOf(spec, config).template.spec;
const containerOf = (spec: Record<string, unknown>, config?: RenderConfig) => podOf(spec, config).containers[0]!;
/** The value of a `--flag=value` word; undefined when the flag is absent. */
const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
const GPU_TAINT = { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' };

/**
 * The Pod Security Standards, "restricted" profile (which includes "baseline"), as the checks the
 * PodSecurity admission plugin makes on a pod spec; returns the violations, [] when it passes.
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/
 */
function restrictedViolations(pod: PodSpec): string[] {
  const out: string[] = [];
  const psc = pod.securityContext as { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  for (const hostField of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[hostField]) out.push(`${hostField}`);
  const allowedVolumes = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
  for (const v of pod.volumes) {
    for (const k of Object.keys(v).filter((k) => k !== 'name')) if (!allowedVolumes.has(k)) out.push(`volume ${v.name}: ${k}`);
  }
  if (psc.runAsUser === 0) out.push('pod runAsUser 0');
  for (const c of pod.containers) {
    const sc = c.securityContext as { privileged?: boolean; allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean; runAsUser?: number; capabilities?: { add?: string[]; drop?: string[] }; seccompProfile?: { type: string } };
    if (sc.privileged) out.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${c.name}: allowPrivilegeEscalation != false`);
    if (!(sc.runAsNonRoot === true || (sc.runAsNonRoot === undefined && psc.runAsNonRoot === true))) out.push(`${c.name}: runAsNonRoot != true`);
    if (sc.runAsUser === 0) out.push(`${c.name}: runAsUser 0`);
    if (!sc.capabilities?.drop?.includes('ALL')) out.push(`${c.name}: capabilities not dropping ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') out.push(`${c.name}: adds ${cap}`);
    const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`${c.name}: seccompProfile ${seccomp}`);
    for (const p of c.ports) if ((p as { hostPort?: number }).hostPort) out.push(`${c.name}: hostPort`);
  }
  return out;
}

describe('GPUs: resources and scheduling', () => {
  it.each([
    // [case, spec, limits, requests, tolerations]
    ['the default (1 GPU)', {}, { 'nvidia.com/gpu': '1' }, { 'nvidia.com/gpu': '1' }, [GPU_TAINT]],
    ['4 GPUs', { gpu: { count: 4 } }, { 'nvidia.com/gpu': '4' }, { 'nvidia.com/gpu': '4' }, [GPU_TAINT]],
    ['CPU only (count 0): no GPU resource, no GPU toleration', { gpu: { count: 0 } }, undefined, undefined, undefined],
    ['CPU/memory next to the GPUs, numbers as strings', { gpu: { count: 2 }, resources: { requests: { cpu: 2, memory: '8Gi' }, limits: { memory: '16Gi' } } },
      { memory: '16Gi', 'nvidia.com/gpu': '2' }, { cpu: '2', memory: '8Gi', 'nvidia.com/gpu': '2' }, [GPU_TAINT]],
    ['CPU only with CPU/memory', { gpu: { count: 0 }, resources: { limits: { cpu: '500m' } } }, { cpu: '500m' }, undefined, undefined],
    ['a GPU toleration of its own is kept, not doubled', { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' }] },
      { 'nvidia.com/gpu': '1' }, { 'nvidia.com/gpu': '1' }, [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' }]],
    ['other tolerations come first, the GPU one is added', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'llm', effect: 'NoExecute' }] },
      { 'nvidia.com/gpu': '1' }, { 'nvidia.com/gpu': '1' }, [{ key: 'dedicated', operator: 'Equal', value: 'llm', effect: 'NoExecute' }, GPU_TAINT]],
    ['CPU only keeps the tolerations it declares', { gpu: { count: 0 }, tolerations: [{ key: 'dedicated', operator: 'Exists' }] }, undefined, undefined, [{ key: 'dedicated', operator: 'Exists' }]],
  ] as const)('%s', (_name, spec, limits, requests, tolerations) => {
    const pod = podOf(spec);
    expect(pod.containers[0]!.resources.limits).toEqual(limits);
    expect(pod.containers[0]!.resources.requests).toEqual(requests);
    expect(pod.tolerations).toEqual(tolerations);
  });

  it.each([
    ['a GPU product: required node affinity on nvidia.com/gpu.product', { gpu: { count: 1, product: 'NVIDIA-L4' } }, ['NVIDIA-L4']],
    ['no product: any GPU node', { gpu: { count: 1 } }, undefined],
    ['a product but no GPUs: no affinity', { gpu: { count: 0, product: 'NVIDIA-L4' } }, undefined],
  ] as const)('%s', (_name, spec, products) => {
    const affinity = podOf(spec).affinity;
    if (!products) {
      expect(affinity).toBeUndefined();
      return;
    }
    expect(affinity!.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms)
      .toEqual([{ matchExpressions: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: products }] }]);
  });

  it.each([
    ['nodeSelector, runtimeClassName and priorityClassName are passed through', { nodeSelector: { pool: 'gpu-a' }, runtimeClassName: 'nvidia', priorityClassName: 'inference' },
      { nodeSelector: { pool: 'gpu-a' }, runtimeClassName: 'nvidia', priorityClassName: 'inference' }],
    ['absent: none of them is set', {}, { nodeSelector: undefined, runtimeClassName: undefined, priorityClassName: undefined }],
    ['an empty nodeSelector is left out', { nodeSelector: {} }, { nodeSelector: undefined }],
  ] as const)('%s', (_name, spec, want) => {
    const pod = podOf(spec);
    for (const [k, v] of Object.entries(want)) expect([k, pod[k]]).toEqual([k, v]);
  });

  it.each([
    ['GPU workers are replaced in place (no surge onto a GPU that may not exist)', { gpu: { count: 1 } }, { maxSurge: 0, maxUnavailable: 1 }],
    ['CPU workers surge first (no capacity lost during a rollout)', { gpu: { count: 0 } }, { maxSurge: 1, maxUnavailable: 0 }],
  ] as const)('strategy: %s', (_name, spec, rollingUpdate) => {
    expect(deploymentOf(spec).strategy).toEqual({ type: 'RollingUpdate', rollingUpdate });
  });
});

describe('Pod Security "restricted"', () => {
  it.each([
    ['the defaults', {}],
    ['CPU only', { gpu: { count: 0 } }],
    ['4 GPUs with a product, tolerations and a runtime class', { gpu: { count: 4, product: 'NVIDIA-H100' }, runtimeClassName: 'nvidia', tolerations: [{ key: 'x', operator: 'Exists' }] }],
    ['a model from a PVC and a PVC model cache', { model: { source: 'pvc://models/qwen/q4.gguf' }, modelCache: { persistentVolumeClaim: 'cache' } }],
    ['an API key Secret', { auth: { apiKey: { secretKeyRef: { name: 'keys', key: 'k' } } } }],
  ])('%s: passes', (_name, spec) => {
    expect(restrictedViolations(podOf(spec))).toEqual([]);
  });

  it.each([
    ['a router', { router: {} }],
    ['a router with an API key Secret, scaling from zero', { router: { replicas: 3 }, auth: { apiKey: { secretKeyRef: { name: 'keys', key: 'k' } } }, autoscaling: { minReplicas: 0, maxReplicas: 2 } }],
  ])('every pod the operator renders, with %s: passes', (_name, spec) => {
    const deployments = renderAll(qws(spec), { ...defaultRenderConfig, prometheusURL: 'http://prom:9090' }).filter((o) => o.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name)).toEqual(['chat', 'chat-router']);
    for (const d of deployments) expect(restrictedViolations((d.spec as DeploymentSpec).template.spec)).toEqual([]);
  });

  it('the check itself rejects what restricted forbids (so the cases above can fail)', () => {
    const pod = podOf({});
    const c = pod.containers[0]!;
    const bad: PodSpec = {
      ...pod,
      hostNetwork: true,
      securityContext: { ...pod.securityContext, runAsNonRoot: undefined },
      volumes: [...pod.volumes, { name: 'host', hostPath: { path: '/' } }],
      containers: [{ ...c, securityContext: { ...c.securityContext, allowPrivilegeEscalation: true, runAsNonRoot: undefined, capabilities: { add: ['SYS_ADMIN'] }, seccompProfile: { type: 'Unconfined' } } }],
    };
    expect(restrictedViolations(bad)).toEqual(['hostNetwork', 'volume host: hostPath', 'worker: allowPrivilegeEscalation != false', 'worker: runAsNonRoot != true', 'worker: capabilities not dropping ALL', 'worker: adds SYS_ADMIN', 'worker: seccompProfile Unconfined']);
  });

  it('runs as a fixed non-root user with a read-only root filesystem and no service account token', () => {
    const pod = podOf({});
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0]!.securityContext).toMatchObject({ readOnlyRootFilesystem: true });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('gives the read-only root filesystem writable /tmp and model cache (HOME=/tmp)', () => {
    const c = containerOf({});
    expect(c.volumeMounts).toEqual([{ name: 'model-cache', mountPath: MODEL_CACHE_PATH }, { name: 'tmp', mountPath: '/tmp' }]);
    expect((c as unknown as { env: unknown[] }).env).toEqual([{ name: 'HOME', value: '/tmp' }]);
  });
});

describe('worker arguments', () => {
  const config: RenderConfig = { ...defaultRenderConfig, workerPort: 8123, metricsPort: 9123 };

  it.each([
    ['--model: an hf: source is passed as is', { model: { source: 'hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M' } }, '--model', 'hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M'],
    ['--model: an https URL is passed as is', { model: { source: 'https://example.com/m/qwen.gguf' } }, '--model', 'https://example.com/m/qwen.gguf'],
    ['--model: file:// becomes the path in the image', { model: { source: 'file:///opt/models/qwen.gguf' } }, '--model', '/opt/models/qwen.gguf'],
    ['--model: pvc:// becomes the path under the claim\'s mount', { model: { source: 'pvc://models/qwen/q4.gguf' } }, '--model', '/models-pvc/qwen/q4.gguf'],
    ['--model-name: derived from an hf: repo and quant', { model: { source: 'hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M' } }, '--model-name', 'Qwen3-4B-Instruct-2507-Q4_K_M'],
    ['--model-name: derived from a file name', { model: { source: 'https://example.com/m/qwen3+small@v1.GGUF' } }, '--model-name', 'qwen3-small-v1'],
    ['--model-name: derived from the path of a presigned URL, never its signature', { model: { source: 'https://b.s3.example.com/m/qwen.gguf?X-Amz-Signature=deadbeef' } }, '--model-name', 'qwen'],
    ['--model-name: spec.model.name wins', { model: { source: 'file:///m/x.gguf', name: 'my-model' } }, '--model-name', 'my-model'],
    ['--port: the configured worker port', {}, '--port', '8123'],
    ['--metrics-port: the configured metrics port', {}, '--metrics-port', '9123'],
    ['--host: every interface', {}, '--host', '0.0.0.0'],
    ['--parallel: spec.model.parallel', { model: { parallel: 9 } }, '--parallel', '9'],
    ['--parallel: default 4', {}, '--parallel', '4'],
    ['--context-size: spec.model.contextSize', { model: { contextSize: 32768 } }, '--context-size', '32768'],
    ['--gpu: cuda with GPUs', { gpu: { count: 2 } }, '--gpu', 'cuda'],
    ['--gpu: false on CPU', { gpu: { count: 0 } }, '--gpu', 'false'],
    ['--cache-dir: the model cache mount', {}, '--cache-dir', MODEL_CACHE_PATH],
    ['--drain-timeout: the grace period less 10 s', {}, '--drain-timeout', '80'],
    ['--model-sha256: when given', { model: { sha256: 'a'.repeat(64) } }, '--model-sha256', 'a'.repeat(64)],
    ['--model-sha256: absent otherwise', {}, '--model-sha256', undefined],
    ['--api-key-file: with spec.auth', { auth: { apiKey: { secretKeyRef: { name: 'k', key: 'v' } } } }, '--api-key-file', API_KEY_FILE],
    ['--api-key-file: absent without spec.auth', {}, '--api-key-file', undefined],
    ['--slo-buckets: absent without an SLA', {}, '--slo-buckets', undefined],
    ['--slo-buckets: absent with an SLA of no latency threshold', { sla: { errorRate: '1%' } }, '--slo-buckets', undefined],
  ] as const)('%s', (_name, spec, name, value) => {
    const args = containerOf(spec, config).args;
    expect(flag(args, name)).toBe(value);
    // A flag appears at most once.
    expect(args.filter((a) => a === name || a.startsWith(`${name}=`)).length).toBe(value === undefined ? 0 : 1);
  });

  it('--slo-buckets: the SLA thresholds as the worker histogram\'s extra bucket boundaries', () => {
    const qs = qws({ sla: { latency: { p95: '750ms', p99: '3s' }, timeToFirstToken: { p90: '500ms' } } });
    const buckets = flag(workerArgs(resolvePlan(qs, defaultRenderConfig)), '--slo-buckets')!;
    expect(buckets).toBe(sloBucketBoundaries(slosOf(qs.spec.sla)).join(','));
    expect(buckets.split(',').map(Number)).toEqual(expect.arrayContaining([0.5, 0.75, 3]));
  });

  // A value that starts with `-` (a name derived from the file `-x.gguf`, a path) used to follow
  // its flag as a word of its own, which the worker's parser reads as an unknown flag (exit 2).
  it.each([
    ['a model name derived from a file that starts with -', { model: { source: 'https://example.com/m/-qwen.gguf' } }, { modelName: '-qwen', model: 'https://example.com/m/-qwen.gguf' }],
    ['a pvc path that starts with -', { model: { source: 'pvc://models/-q4.gguf' } }, { modelName: '-q4', model: '/models-pvc/-q4.gguf' }],
    ['a plain spec', { model: { source: 'hf:owner/repo:Q4', name: 'm', sha256: 'b'.repeat(64), parallel: 3 } }, { modelName: 'm', model: 'hf:owner/repo:Q4', modelSha256: 'b'.repeat(64), parallel: 3 }],
    ['a prompt cache', { model: { source: 'hf:owner/repo:Q4', promptCache: '1Gi' } }, { promptCacheBytes: 2 ** 30, promptCacheDir: PROMPT_CACHE_PATH }],
  ] as const)('every argument is one --flag=value word that the real worker reads back: %s', (_name, spec, expected) => {
    const args = containerOf(spec, config).args;
    expect(args.filter((a) => !/^--[a-z0-9-]+=/.test(a))).toEqual([]);
    expect(parseConfig(args, {})).toMatchObject({ ...expected, port: 8123, metricsPort: 9123 });
  });

  it('with the default config the worker listens where its own defaults say, and queues its default per sequence', () => {
    const c = parseConfig(containerOf({ model: { source: 'hf:owner/repo:Q4', parallel: 3 } }, defaultRenderConfig).args, {});
    expect(c).toMatchObject({ host: WORKER_DEFAULT.host, port: WORKER_DEFAULT.port, parallel: 3, queueSize: WORKER_DEFAULT.queuePerSequence * 3 });
  });

  it('the container runs the configured image unless spec.image overrides it', () => {
    expect(containerOf({}).image).toBe(defaultRenderConfig.workerImage);
    expect(containerOf({ image: 'registry.example/worker:dev' }).image).toBe('registry.example/worker:dev');
  });

  it('names the ports the Service and probes use, on the configured numbers', () => {
    expect(containerOf({}, config).ports).toEqual([
      { name: 'http', containerPort: 8123, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9123, protocol: 'TCP' },
    ]);
  });

  it('servedModelName keeps metric labels and model ids tame', () => {
    expect(servedModelName(qws({ model: { source: 'hf:owner/repo/sub/model.gguf' } }))).toBe('model');
    expect(servedModelName(qws({ model: { source: 'hf:owner/Some-Model-GGUF:Q8_0' } }))).toBe('Some-Model-Q8_0');
    expect(servedModelName(qws({ model: { source: `https://example.com/${'x'.repeat(200)}.gguf` } }))).toHaveLength(128);
  });
});

describe('volumes', () => {
  it.each([
    ['default: an unbounded emptyDir model cache', {}, { name: 'model-cache', emptyDir: {} }],
    ['modelCache.sizeLimit bounds the emptyDir', { modelCache: { sizeLimit: '20Gi' } }, { name: 'model-cache', emptyDir: { sizeLimit: '20Gi' } }],
    ['modelCache.persistentVolumeClaim replaces it', { modelCache: { persistentVolumeClaim: 'qwen-cache' } }, { name: 'model-cache', persistentVolumeClaim: { claimName: 'qwen-cache' } }],
  ] as const)('%s', (_name, spec, cache) => {
    expect(podOf(spec).volumes.find((v) => v.name === 'model-cache')).toEqual(cache);
  });

  it('a pvc:// model source mounts its claim read-only where --model points', () => {
    const pod = podOf({ model: { source: 'pvc://models/qwen/q4.gguf' } });
    expect(pod.volumes).toContainEqual({ name: 'model-source', persistentVolumeClaim: { claimName: 'models', readOnly: true } });
    const mount = pod.containers[0]!.volumeMounts.find((m) => m.name === 'model-source')!;
    expect(mount).toEqual({ name: 'model-source', mountPath: '/models-pvc', readOnly: true });
    expect(flag(pod.containers[0]!.args, '--model')!.startsWith(`${mount.mountPath}/`)).toBe(true);
  });

  it.each([
    ['no auth: no Secret volume', {}, undefined],
    ['spec.auth: the key of the Secret as a read-only directory mount (no subPath), mode 0440', { auth: { apiKey: { secretKeyRef: { name: 'gw.tokens', key: 'tokens.txt' } } } },
      { secretName: 'gw.tokens', items: [{ key: 'tokens.txt', path: 'keys' }], defaultMode: 0o440 }],
  ] as const)('%s', (_name, spec, secret) => {
    const pod = podOf(spec);
    const volume = pod.volumes.find((v) => v.name === 'api-key');
    const mount = pod.containers[0]!.volumeMounts.find((m) => m.name === 'api-key');
    if (!secret) {
      expect([volume, mount]).toEqual([undefined, undefined]);
      return;
    }
    expect(volume).toEqual({ name: 'api-key', secret });
    expect(mount).toEqual({ name: 'api-key', mountPath: '/etc/qwen-worker/api-key', readOnly: true });
    expect(API_KEY_FILE).toBe(`${mount!.mountPath}/${secret.items[0]!.path}`);
  });

  it('spec.auth.apiKeys (named keys): the whole Secret, one file per tenant, and --api-key-file names its directory', () => {
    const pod = podOf({ auth: { apiKeys: { secretRef: { name: 'chat-tenants' } } } });
    expect(pod.volumes.find((v) => v.name === 'api-key')).toEqual({ name: 'api-key', secret: { secretName: 'chat-tenants', defaultMode: 0o440 } });
    const mount = pod.containers[0]!.volumeMounts.find((m) => m.name === 'api-key');
    expect(mount).toEqual({ name: 'api-key', mountPath: API_KEY_DIR, readOnly: true });
    expect(flag(pod.containers[0]!.args, '--api-key-file')).toBe(API_KEY_DIR);
  });
});

describe('spec.model.promptCache (the host prompt cache)', () => {
  it.each([
    ['absent: off, no volume, resources untouched', {}, undefined, undefined, undefined],
    ['0: off as well', { promptCache: 0 }, undefined, undefined, undefined],
    ['a quantity: the flag in bytes, a memory-backed emptyDir of that size, a memory request of it', { promptCache: '2Gi' }, String(2 ** 31), '2Gi', { requests: { memory: '2Gi' } }],
    ['bytes as a number', { promptCache: 536870912 }, '536870912', '512Mi', { requests: { memory: '512Mi' } }],
    ['a decimal quantity', { promptCache: '1.5G' }, '1500000000', '1500000000', { requests: { memory: '1500000000' } }],
  ] as const)('%s', (_name, model, bytes, sizeLimit, resources) => {
    // On CPU: no GPU resources beside the memory.
    const c = containerOf({ model, gpu: { count: 0 } });
    const pod = podOf({ model, gpu: { count: 0 } });
    expect(flag(c.args, '--prompt-cache-bytes')).toBe(bytes);
    expect(flag(c.args, '--prompt-cache-dir')).toBe(bytes === undefined ? undefined : PROMPT_CACHE_PATH);
    const volume = pod.volumes.find((v) => v.name === 'prompt-cache');
    const mount = c.volumeMounts.find((m) => m.name === 'prompt-cache');
    if (sizeLimit === undefined) expect([volume, mount]).toEqual([undefined, undefined]);
    else {
      expect(volume).toEqual({ name: 'prompt-cache', emptyDir: { medium: 'Memory', sizeLimit } });
      expect(mount).toEqual({ name: 'prompt-cache', mountPath: PROMPT_CACHE_PATH });
    }
    expect(c.resources).toEqual(resources ?? {});
  });

  it.each([
    ['request and limit both grow by the cache', { requests: { cpu: '2', memory: '4Gi' }, limits: { memory: '6Gi' } }, { cpu: '2', memory: '5Gi' }, { memory: '7Gi' }],
    ['a limit only: it grows and Kubernetes takes the request from it', { limits: { memory: '6Gi' } }, undefined, { memory: '7Gi' }],
    ['a request only: it grows, no limit appears', { requests: { memory: '1000M' } }, { memory: String(1e9 + 2 ** 30) }, undefined],
  ] as const)('memory: %s', (_name, resources, requests, limits) => {
    const c = containerOf({ model: { promptCache: '1Gi' }, resources, gpu: { count: 0 } });
    expect(c.resources.requests).toEqual(requests);
    expect(c.resources.limits).toEqual(limits);
  });

  it('rejects what is not a quantity', () => {
    expect(() => qws({ model: { promptCache: '2GB' } })).toThrow(/promptCache/);
    expect(() => qws({ model: { promptCache: -1 } })).toThrow(/promptCache/);
  });
});

describe('probes and shutdown', () => {
  const c = containerOf({});

  it.each([
    // [probe, path, period, failures]: startup allows an hour for a model download.
    ['startupProbe', '/readyz', 10, 360],
    ['readinessProbe', '/readyz', 5, 2],
    ['livenessProbe', '/healthz', 10, 3],
  ] as const)('%s: GET %s on the API port every %ss, %s failures', (probe, path, periodSeconds, failureThreshold) => {
    expect(c[probe]).toEqual({ httpGet: { path, port: 'http' }, periodSeconds, failureThreshold, timeoutSeconds: 5 });
  });

  it('the startup probe allows an hour (a multi-GB model download) before the kubelet gives up', () => {
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBe(3600);
  });

  it('gives in-flight generations 90 s after SIGTERM, and the worker drains 10 s less', () => {
    const pod = podOf({});
    expect(pod.terminationGracePeriodSeconds).toBe(90);
    expect(Number(flag(pod.containers[0]!.args, '--drain-timeout'))).toBe((pod.terminationGracePeriodSeconds as number) - 10);
  });
});

describe('replicas, Service and PodDisruptionBudget', () => {
  const PROM = { ...defaultRenderConfig, prometheusURL: 'http://prometheus.monitoring.svc:9090' };
  const ALL = new Set(OWNED_KINDS.filter((k) => k.monitoring || k.optional).map(kindKey));
  const withoutKeda = new Set([...ALL].filter((k) => k !== SCALED_OBJECT_KEY));
  const deploymentIn = (objs: KubeObject[]) => objs.find((o) => o.kind === 'Deployment')!;
  const kinds = (objs: KubeObject[]) => objs.map((o) => o.kind).filter((k) => ['Deployment', 'Service', 'PodDisruptionBudget'].includes(k));

  it.each([
    // [case, spec, config, served kinds, spec.replicas wanted ('absent': not in the object), annotation]
    ['no autoscaling: spec.replicas', { replicas: 3 }, PROM, ALL, 3, undefined],
    ['no autoscaling, replicas 0', { replicas: 0 }, PROM, ALL, 0, undefined],
    ['autoscaled with KEDA and Prometheus: no replicas (the HPA owns them)', { replicas: 3, autoscaling: { minReplicas: 2, maxReplicas: 5 } }, PROM, ALL, 'absent', 'autoscaler'],
    ['autoscaled, KEDA not served: minReplicas', { replicas: 3, autoscaling: { minReplicas: 2, maxReplicas: 5 } }, PROM, withoutKeda, 2, 'minReplicas'],
    ['autoscaled, no Prometheus URL: minReplicas', { replicas: 3, autoscaling: { minReplicas: 2, maxReplicas: 5 } }, defaultRenderConfig, ALL, 2, 'minReplicas'],
  ] as const)('%s', (_name, spec, config, served, replicas, annotation) => {
    const dep = deploymentIn(renderAll(qws(spec), config, { servedMonitoringKinds: served }));
    const depSpec = dep.spec as { replicas?: number };
    if (replicas === 'absent') expect('replicas' in depSpec).toBe(false);
    else expect(depSpec.replicas).toBe(replicas);
    expect(dep.metadata.annotations?.['qwenops.io/replicas-from']).toBe(annotation);
  });

  it.each([
    ['1 replica: Deployment and Service only', { replicas: 1 }, ['Deployment', 'Service']],
    ['0 replicas: no PodDisruptionBudget', { replicas: 0 }, ['Deployment', 'Service']],
    ['2 replicas: a PodDisruptionBudget', { replicas: 2 }, ['Deployment', 'Service', 'PodDisruptionBudget']],
  ] as const)('renderWorkload, %s', (_name, spec, want) => {
    expect(kinds(renderWorkload(resolvePlan(qws(spec), defaultRenderConfig)))).toEqual(want);
  });

  it('the PodDisruptionBudget lets one pod go at a time and selects the workers', () => {
    const pdb = renderPodDisruptionBudget(resolvePlan(qws({ replicas: 4 }), defaultRenderConfig))!;
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: deploymentOf({}).selector.matchLabels } });
  });

  it('the Deployment selects its own pods, and the Service the same pods on both named ports', () => {
    const dep = deploymentOf({});
    const svc = renderService(resolvePlan(qws(), { ...defaultRenderConfig, workerPort: 8123, metricsPort: 9123 })).spec as { type: string; selector: Record<string, string>; ports: unknown[] };
    expect(dep.template.metadata.labels).toMatchObject(dep.selector.matchLabels);
    expect(dep.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'qwen-worker', 'app.kubernetes.io/instance': 'chat' });
    expect(svc.selector).toEqual(dep.selector.matchLabels);
    expect(svc.type).toBe('ClusterIP');
    expect(svc.ports).toEqual([
      { name: 'http', port: 8123, targetPort: 'http', protocol: 'TCP' },
      { name: 'metrics', port: 9123, targetPort: 'metrics', protocol: 'TCP' },
    ]);
  });

  it('the Deployment is named after the QwenService, in its namespace, owned by it', () => {
    const dep = renderDeployment(resolvePlan(qws(), defaultRenderConfig));
    expect(dep.metadata).toMatchObject({ name: 'chat', namespace: 'team-a', labels: expect.objectContaining({ 'app.kubernetes.io/component': 'worker', 'qwenops.io/qwenservice': 'chat' }) });
    expect(dep.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'QwenService', name: 'chat', uid: 'uid-1', controller: true })]);
  });
});

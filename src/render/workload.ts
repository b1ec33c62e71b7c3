// Pure builders of the worker workload: Deployment, Service and (replicas > 1) PodDisruptionBudget.
// The pods pass Pod Security "restricted": non-root, no privilege escalation, no capabilities,
// RuntimeDefault seccomp, read-only root filesystem (writable emptyDirs for /tmp and the model cache).
import { redactModelSource } from '../api/model-source.ts';
import type { QwenService } from '../api/qwenservice.ts';
import { formatBytes, parseQuantity } from '../api/units.ts';
import { LABEL_COMPONENT, REPLICAS_ANNOTATION, WORKER_COMPONENT } from '../conventions.ts';
import type { Plan } from '../plan/index.ts';
import { FLAG, WORKER_DEFAULT } from '../../worker/src/contract.ts';
import { sloBucketBoundaries } from '../sla/index.ts';
import { API_KEY_FILE_NAME, apiKeyVolume } from './api-keys.ts';
import { METRICS_PORT_NAME, WORKER_PORT_NAME, childMeta, commonLabels, selectorLabels, type KubeObject } from './common.ts';

export const MODEL_CACHE_PATH = '/models';
/** The host prompt cache's memory-backed emptyDir (spec.model.promptCache). */
export const PROMPT_CACHE_PATH = '/prompt-cache';
const PVC_MOUNT = '/models-pvc';
/** Long enough for a multi-GB model download on a slow link before the kubelet gives up. */
const STARTUP_BUDGET_S = 60 * 60;
/** Lets in-flight generations finish after SIGTERM (the worker drains, then exits). */
const GRACE_PERIOD_S = 90;
const NON_ROOT_UID = 65532;

/** Pod Security "restricted" for every pod the operator runs (workers, routers): the pod's part. */
export const RESTRICTED_POD_SECURITY = { runAsNonRoot: true, runAsUser: NON_ROOT_UID, runAsGroup: NON_ROOT_UID, fsGroup: NON_ROOT_UID, seccompProfile: { type: 'RuntimeDefault' } } as const;
/** Pod Security "restricted": each container's part. */
export const RESTRICTED_CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
} as const;
/** Where the worker reads spec.auth's Secret (render/api-keys.ts: a directory, re-read on change). */
export const API_KEY_DIR = '/etc/qwen-worker/api-key';
export const API_KEY_FILE = `${API_KEY_DIR}/${API_KEY_FILE_NAME}`;

/** The model id served in /v1/models and used as the `model` metric label. */
export function servedModelName(qs: QwenService): string {
  if (qs.spec.model.name) return qs.spec.model.name;
  const source = qs.spec.model.source;
  const hf = /^hf:[^/]+\/([^:/]+)(?::(.+))?$/.exec(source);
  if (hf) return hf[1]!.replace(/-GGUF$/i, '') + (hf[2] ? `-${hf[2]}` : '');
  // The file name of the path: never the query string (a presigned URL's signature) or userinfo.
  const base = (source.startsWith('https://') ? redactModelSource(source) : source).split('/').pop() ?? 'model';
  return base.replace(/\.gguf$/i, '').replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 128) || 'model';
}

/** Where the worker reads the model from: pvc:// sources are mounted, the rest are passed through. */
function modelArgument(qs: QwenService): string {
  const pvc = /^pvc:\/\/([^/]+)\/(.+)$/.exec(qs.spec.model.source);
  if (pvc) return `${PVC_MOUNT}/${pvc[2]}`;
  const file = /^file:\/\/(\/.+)$/.exec(qs.spec.model.source);
  return file ? file[1]! : qs.spec.model.source;
}

/** spec.model.promptCache in whole bytes (0: off). */
export function promptCacheBytes(qs: QwenService): number {
  const q = qs.spec.model.promptCache;
  return q === undefined ? 0 : Math.floor(parseQuantity(q));
}

/**
 * The worker's command line, each flag as one `--flag=value` word: a value that starts with `-`
 * (a model name, a path) is then never read as a flag of its own.
 */
export function workerArgs(plan: Plan): string[] {
  const { qs, config } = plan;
  const m = qs.spec.model;
  const flags: [string, string][] = [
    [FLAG.model, modelArgument(qs)],
    [FLAG.modelName, servedModelName(qs)],
    [FLAG.host, WORKER_DEFAULT.host],
    [FLAG.port, String(config.workerPort)],
    [FLAG.metricsPort, String(config.metricsPort)],
    [FLAG.parallel, String(m.parallel)],
    [FLAG.contextSize, String(m.contextSize)],
    [FLAG.gpu, qs.spec.gpu.count > 0 ? 'cuda' : 'false'],
    [FLAG.cacheDir, MODEL_CACHE_PATH],
    // In-flight generations get the pod's grace period, less a margin for the exit itself.
    [FLAG.drainTimeout, String(GRACE_PERIOD_S - 10)],
  ];
  if (m.sha256) flags.push([FLAG.modelSha256, m.sha256]);
  const cacheBytes = promptCacheBytes(qs);
  if (cacheBytes > 0) flags.push([FLAG.promptCacheBytes, String(cacheBytes)], [FLAG.promptCacheDir, PROMPT_CACHE_PATH]);
  const keys = apiKeyVolume(qs, API_KEY_DIR);
  if (keys) flags.push([FLAG.apiKeyFile, keys.path]);
  const buckets = sloBucketBoundaries(plan.sla.slos);
  if (buckets.length) flags.push([FLAG.sloBuckets, buckets.join(',')]);
  return flags.map(([flag, value]) => `--${flag}=${value}`);
}

/**
 * The container's resources: the spec's, the GPUs, `memory` (the sizing estimate) as request and
 * limit when the spec names no memory, and the prompt cache's bytes on top of either.
 */
function resources(qs: QwenService, memory: string | undefined): Record<string, Record<string, string>> {
  const str = (r: Record<string, string | number> | undefined) => Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [k, String(v)]));
  const requests = str(qs.spec.resources?.requests);
  const limits = str(qs.spec.resources?.limits);
  if (memory && requests.memory === undefined && limits.memory === undefined) {
    requests.memory = memory;
    limits.memory = memory;
  }
  // The prompt cache's files live in memory (tmpfs) charged to the container: on top of the memory
  // decided above (the spec's, else the sizing estimate's), the memory it asks for and may use
  // grows by the cache's size. With neither a request nor a limit (no spec memory, no estimate),
  // the request is the cache's size; with a limit only, Kubernetes takes the request from the
  // (grown) limit.
  const cacheBytes = promptCacheBytes(qs);
  if (cacheBytes > 0) {
    const grown = (q: string | undefined) => formatBytes((q === undefined ? 0 : Math.ceil(parseQuantity(q))) + cacheBytes);
    if (requests.memory !== undefined || limits.memory === undefined) requests.memory = grown(requests.memory);
    if (limits.memory !== undefined) limits.memory = grown(limits.memory);
  }
  if (qs.spec.gpu.count > 0) {
    limits['nvidia.com/gpu'] = String(qs.spec.gpu.count);
    requests['nvidia.com/gpu'] = String(qs.spec.gpu.count);
  }
  const out: Record<string, Record<string, string>> = {};
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return out;
}

function podScheduling(qs: QwenService): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (qs.spec.nodeSelector && Object.keys(qs.spec.nodeSelector).length) out.nodeSelector = qs.spec.nodeSelector;
  const tolerations = [...(qs.spec.tolerations ?? [])];
  // GPU nodes are commonly tainted nvidia.com/gpu:NoSchedule; a GPU worker belongs there.
  if (qs.spec.gpu.count > 0 && !tolerations.some((t) => t.key === 'nvidia.com/gpu')) {
    tolerations.push({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
  }
  if (tolerations.length) out.tolerations = tolerations;
  if (qs.spec.gpu.count > 0 && qs.spec.gpu.product) {
    out.affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: [qs.spec.gpu.product] }] }],
        },
      },
    };
  }
  if (qs.spec.runtimeClassName) out.runtimeClassName = qs.spec.runtimeClassName;
  if (qs.spec.priorityClassName) out.priorityClassName = qs.spec.priorityClassName;
  return out;
}

function volumes(qs: QwenService): { volumes: unknown[]; mounts: unknown[] } {
  const cache = qs.spec.modelCache?.persistentVolumeClaim
    ? { name: 'model-cache', persistentVolumeClaim: { claimName: qs.spec.modelCache.persistentVolumeClaim } }
    : { name: 'model-cache', emptyDir: qs.spec.modelCache?.sizeLimit ? { sizeLimit: qs.spec.modelCache.sizeLimit } : {} };
  const vols: unknown[] = [cache, { name: 'tmp', emptyDir: {} }];
  const mounts: unknown[] = [{ name: 'model-cache', mountPath: MODEL_CACHE_PATH }, { name: 'tmp', mountPath: '/tmp' }];
  const cacheBytes = promptCacheBytes(qs);
  if (cacheBytes > 0) {
    // tmpfs: the saved states cost memory, never disk I/O; the worker keeps within the size.
    vols.push({ name: 'prompt-cache', emptyDir: { medium: 'Memory', sizeLimit: formatBytes(cacheBytes) } });
    mounts.push({ name: 'prompt-cache', mountPath: PROMPT_CACHE_PATH });
  }
  const pvc = /^pvc:\/\/([^/]+)\//.exec(qs.spec.model.source);
  if (pvc) {
    vols.push({ name: 'model-source', persistentVolumeClaim: { claimName: pvc[1], readOnly: true } });
    mounts.push({ name: 'model-source', mountPath: PVC_MOUNT, readOnly: true });
  }
  const keys = apiKeyVolume(qs, API_KEY_DIR);
  if (keys) {
    vols.push(keys.volume);
    mounts.push(keys.mount);
  }
  return { volumes: vols, mounts };
}

/**
 * The worker Deployment. Its spec.replicas is the plan's: absent when the HPA or a Rollout sets
 * the count (then our field manager does not own it and their value survives every resync), and
 * the annotation says who does: dropping a field alone never triggers an apply, and only an apply
 * releases our claim on spec.replicas.
 */
export function renderDeployment(plan: Plan): KubeObject {
  const { qs, config, replicas } = plan;
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: WORKER_PORT_NAME }, periodSeconds, failureThreshold, timeoutSeconds: 5,
  });
  const { volumes: vols, mounts } = volumes(qs);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMeta(qs, qs.metadata.name, { labels: { [LABEL_COMPONENT]: WORKER_COMPONENT }, ...(replicas.replicasFrom ? { annotations: { [REPLICAS_ANNOTATION]: replicas.replicasFrom } } : {}) }),
    spec: {
      ...(replicas.deploymentReplicas !== undefined ? { replicas: replicas.deploymentReplicas } : {}),
      selector: { matchLabels: selectorLabels(qs) },
      // GPUs are scarce: replace a pod in place rather than surge onto a GPU that may not exist.
      strategy: qs.spec.gpu.count > 0 ? { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } } : { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { ...commonLabels(qs), [LABEL_COMPONENT]: WORKER_COMPONENT } },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: GRACE_PERIOD_S,
          securityContext: RESTRICTED_POD_SECURITY,
          ...podScheduling(qs),
          containers: [
            {
              name: 'worker',
              image: qs.spec.image ?? config.workerImage,
              imagePullPolicy: 'IfNotPresent',
              args: workerArgs(plan),
              ports: [
                { name: WORKER_PORT_NAME, containerPort: config.workerPort, protocol: 'TCP' },
                { name: METRICS_PORT_NAME, containerPort: config.metricsPort, protocol: 'TCP' },
              ],
              env: [{ name: 'HOME', value: '/tmp' }],
              resources: resources(qs, plan.sizing?.workerMemory),
              startupProbe: probe('/readyz', 10, STARTUP_BUDGET_S / 10),
              readinessProbe: probe('/readyz', 5, 2),
              livenessProbe: probe('/healthz', 10, 3),
              securityContext: RESTRICTED_CONTAINER_SECURITY,
              terminationMessagePolicy: 'FallbackToLogsOnError',
              volumeMounts: mounts,
            },
          ],
          volumes: vols,
        },
      },
    },
  };
}

/**
 * The workers' Service: named after the QwenService (the client's endpoint) without a router; with
 * one, `<name>-workers`, which the router follows (renderRouter's Service then takes the name).
 */
export function renderService(plan: Plan): KubeObject {
  const { qs, config } = plan;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(qs, plan.router?.workersService ?? qs.metadata.name, { labels: { [LABEL_COMPONENT]: WORKER_COMPONENT } }),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(qs),
      ports: [
        { name: WORKER_PORT_NAME, port: config.workerPort, targetPort: WORKER_PORT_NAME, protocol: 'TCP' },
        { name: METRICS_PORT_NAME, port: config.metricsPort, targetPort: METRICS_PORT_NAME, protocol: 'TCP' },
      ],
    },
  };
}

/** Whether there may be more than one pod (spec.replicas, or maxReplicas when autoscaled), not how many there are now. */
export function renderPodDisruptionBudget(plan: Plan): KubeObject | undefined {
  const { qs } = plan;
  if (!plan.replicas.mayRunSeveral) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMeta(qs, qs.metadata.name),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(qs) } },
  };
}

export function renderWorkload(plan: Plan): KubeObject[] {
  return [renderDeployment(plan), renderService(plan), renderPodDisruptionBudget(plan)].filter((o): o is KubeObject => o !== undefined);
}

// The operator-wide settings a plan (and every renderer) is resolved with: from flags / Helm values.
import { WORKER_DEFAULT } from '../../worker/src/contract.ts';

export type RenderConfig = {
  /** Worker image used when the QwenService does not override it. */
  workerImage: string;
  /** Router image (spec.router) used when the QwenService does not override it. */
  routerImage: string;
  /** Port the worker serves the API (and health) on. */
  workerPort: number;
  /** Port the worker serves /metrics (and health) on, apart from the API so policies can tell them apart. */
  metricsPort: number;
  /** Namespaces where Prometheus runs: the only sources the NetworkPolicy lets reach the metrics port (empty = any namespace). */
  prometheusNamespaces: string[];
  /** Namespaces where KEDA runs: the only sources the NetworkPolicy lets reach the router's external-scaler port (empty = any namespace). */
  kedaNamespaces: string[];
  /** Base of the runbook linked from alerts when the QwenService names none. */
  runbookBaseURL: string;
  /** Grafana base URL for dashboard links in alerts (optional). */
  grafanaURL?: string;
  /** Prometheus the autoscaler's triggers and the rollout gate query (the operator's --prometheus-url); no ScaledObject nor Rollout without it. */
  prometheusURL?: string;
};

export const defaultRenderConfig: RenderConfig = {
  workerImage: 'ghcr.io/qwenops/qwen-worker:0.1.0-cuda',
  routerImage: 'ghcr.io/qwenops/qwen-router:0.1.0',
  workerPort: WORKER_DEFAULT.port,
  metricsPort: 9090,
  prometheusNamespaces: [],
  kedaNamespaces: [],
  runbookBaseURL: 'https://github.com/qwenops/qwen-operator/blob/main/docs/runbook.md',
};

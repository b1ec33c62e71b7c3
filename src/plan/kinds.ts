// The kinds of objects whose existence the plan decides: those from CRDs a cluster may not serve
// (KEDA's, Argo Rollouts', prometheus-operator's, the Gateway API Inference Extension's). Identities only; render/index.ts lists every
// owned kind (and the controller derives informers and RBAC from that list).
import { kindKey } from '../kube/object.ts';

export type KindId = { apiVersion: string; kind: string; plural: string };

export const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments' } as const;
export const SCALED_OBJECT = { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', plural: 'scaledobjects' } as const;
export const ROLLOUT = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', plural: 'rollouts' } as const;
export const ANALYSIS_TEMPLATE = { apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisTemplate', plural: 'analysistemplates' } as const;
/** Created by Argo per analysis step; the operator only reads them (RolloutGated's message). */
export const ANALYSIS_RUN = { apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisRun', plural: 'analysisruns' } as const;
/** The Gateway API Inference Extension's pool of model-server pods (sigs.k8s.io/gateway-api-inference-extension v1.6.2). */
export const INFERENCE_POOL = { apiVersion: 'inference.networking.k8s.io/v1', kind: 'InferencePool', plural: 'inferencepools' } as const;
export const MONITORING_KINDS: readonly KindId[] = [
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', plural: 'servicemonitors' },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', plural: 'prometheusrules' },
  { apiVersion: 'monitoring.coreos.com/v1alpha1', kind: 'AlertmanagerConfig', plural: 'alertmanagerconfigs' },
];

export const DEPLOYMENT_KEY = kindKey(DEPLOYMENT);
export const SCALED_OBJECT_KEY = kindKey(SCALED_OBJECT);
export const ROLLOUT_KEY = kindKey(ROLLOUT);
export const ANALYSIS_TEMPLATE_KEY = kindKey(ANALYSIS_TEMPLATE);
export const INFERENCE_POOL_KEY = kindKey(INFERENCE_POOL);

/** Every kind that exists only where the cluster serves its CRD. */
export const OPTIONAL_KIND_KEYS: ReadonlySet<string> = new Set([...MONITORING_KINDS.map(kindKey), SCALED_OBJECT_KEY, ROLLOUT_KEY, ANALYSIS_TEMPLATE_KEY, INFERENCE_POOL_KEY]);

// The workers as an `inference.networking.k8s.io/v1` InferencePool, for clusters that run a
// Gateway API inference gateway (an Envoy-based gateway whose endpoint picker, the EPP, chooses a
// worker per request from the gauges the worker exports for the model-server protocol). Rendered
// only where the cluster serves the CRD: nothing asks for it, so an unserved kind is not a missing
// object. The endpoint picker is the cluster's (deployed with the gateway, pointed at this pool):
// `endpointPickerRef` is left to whoever runs it (docs/router.md). Pure.
import { LABEL_COMPONENT, WORKER_COMPONENT } from '../conventions.ts';
import { INFERENCE_POOL } from '../plan/kinds.ts';
import type { Plan } from '../plan/index.ts';
import { childMeta, selectorLabels, type KubeObject } from './common.ts';

export { INFERENCE_POOL };

/** The InferencePool of the workers (their pods' labels and HTTP port), or none where its CRD is not served. */
export function renderInferencePool(plan: Plan): KubeObject[] {
  if (!plan.served(INFERENCE_POOL)) return [];
  const { qs, config } = plan;
  return [{
    apiVersion: INFERENCE_POOL.apiVersion,
    kind: INFERENCE_POOL.kind,
    metadata: childMeta(qs, qs.metadata.name, { labels: { [LABEL_COMPONENT]: WORKER_COMPONENT } }),
    spec: {
      selector: { matchLabels: { ...selectorLabels(qs), [LABEL_COMPONENT]: WORKER_COMPONENT } },
      targetPorts: [{ number: config.workerPort }],
    },
  }];
}

// The ServiceMonitor (monitoring.coreos.com/v1) that makes Prometheus scrape the workers. It
// selects the worker Service, so Prometheus labels every series with the target labels the SLO
// rules select on: namespace and service (= the QwenService name). It scrapes the metrics port,
// which the NetworkPolicy opens to the Prometheus namespaces only (the API port stays closed to them).
// Under an Argo Rollout it also copies the pods' pod-template hash onto every series, so a gate
// can tell the canary's requests from the stable ones.
import { LABEL_COMPONENT, WORKER_COMPONENT } from '../conventions.ts';
import type { Plan } from '../plan/index.ts';
import { POD_TEMPLATE_HASH_POD_LABEL } from '../sla/gates.ts';
import { METRICS_PORT_NAME, childMeta, selectorLabels, type KubeObject } from './common.ts';

export function renderServiceMonitor(plan: Plan): KubeObject | undefined {
  const { qs } = plan;
  const sm = qs.spec.monitoring?.serviceMonitor;
  if (sm && !sm.enabled) return undefined;
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: childMeta(qs, qs.metadata.name, { labels: sm?.labels ?? {} }),
    spec: {
      selector: { matchLabels: { ...selectorLabels(qs), [LABEL_COMPONENT]: WORKER_COMPONENT } },
      endpoints: [{ port: METRICS_PORT_NAME, path: '/metrics', interval: sm?.interval ?? '15s' }],
      ...(plan.objects.rollout === 'applied' ? { podTargetLabels: [POD_TEMPLATE_HASH_POD_LABEL] } : {}),
    },
  };
}

// The ServiceMonitor (monitoring.coreos.com/v1) that makes Prometheus scrape the workers. It
// selects the worker Service, so Prometheus labels every series with the target labels the SLO
// rules select on: namespace and service (= the QwenService name). It scrapes the metrics port,
// which the NetworkPolicy opens to the Prometheus namespaces only (the API port stays closed to them).
// Under an Argo Rollout it also copies the pods' pod-template hash onto every series, so a gate
// can tell the canary's requests from the stable ones.
//
// With spec.router it scrapes the workers' Service (`<name>-workers`) and the router's headless
// Service (`<name>-router`, its admin port, also named `metrics`). The workers' series get `service`
// set back to the QwenService's name, so every worker query selects `{namespace, service="<name>"}`
// with or without a router; the router's keep `service="<name>-router"` (the selector the SLIs read
// the router's series and its `up` by: sla/sli.ts routerServiceOf).
import { LABEL_COMPONENT, LABEL_INSTANCE, LABEL_NAME, ROUTER_APP_NAME, ROUTER_COMPONENT, WORKER_APP_NAME, WORKER_COMPONENT } from '../conventions.ts';
import type { Plan } from '../plan/index.ts';
import { workersServiceName } from '../plan/names.ts';
import { POD_TEMPLATE_HASH_POD_LABEL } from '../sla/gates.ts';
import { METRICS_PORT_NAME, childMeta, selectorLabels, type KubeObject } from './common.ts';

/** The target label prometheus-operator sets to the scraped Service's name, and the SLO rules select on. */
const SERVICE_LABEL = 'service';

export function renderServiceMonitor(plan: Plan): KubeObject | undefined {
  const { qs } = plan;
  const sm = qs.spec.monitoring?.serviceMonitor;
  if (sm && !sm.enabled) return undefined;
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: childMeta(qs, qs.metadata.name, { labels: sm?.labels ?? {} }),
    spec: {
      selector: plan.router
        // The router's client Service (named after the QwenService) has no metrics port: not scraped.
        ? { matchLabels: { [LABEL_INSTANCE]: qs.metadata.name }, matchExpressions: [{ key: LABEL_NAME, operator: 'In', values: [ROUTER_APP_NAME, WORKER_APP_NAME] }, { key: LABEL_COMPONENT, operator: 'In', values: [ROUTER_COMPONENT, WORKER_COMPONENT] }] }
        : { matchLabels: { ...selectorLabels(qs), [LABEL_COMPONENT]: WORKER_COMPONENT } },
      endpoints: [{
        port: METRICS_PORT_NAME, path: '/metrics', interval: sm?.interval ?? '15s',
        ...(plan.router ? { relabelings: [{ action: 'replace', sourceLabels: [SERVICE_LABEL], regex: workersServiceName(qs), targetLabel: SERVICE_LABEL, replacement: qs.metadata.name }] } : {}),
      }],
      ...(plan.objects.rollout === 'applied' ? { podTargetLabels: [POD_TEMPLATE_HASH_POD_LABEL] } : {}),
    },
  };
}

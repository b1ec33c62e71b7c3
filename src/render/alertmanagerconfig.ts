// The AlertmanagerConfig (monitoring.coreos.com/v1alpha1) routing this QwenService's alerts: the
// routing model (src/sla/routing.ts) in the CRD's shape. The Prometheus Operator adds a
// `namespace` matcher to the top route itself; credentials are SecretKeySelectors in the
// QwenService's namespace.
import type { QwenService } from '../api/qwenservice.ts';
import { isSecretRef, routingOf, type Integration, type Matcher, type RoutedReceiver } from '../sla/routing.ts';
import { childMeta, type KubeObject } from './common.ts';

const matchers = (ms: Matcher[]) => ms.map((m) => ({ name: m.name, value: m.value, matchType: '=' }));

/** CRD fields that are not the camelCase of Alertmanager's setting name. */
const CRD_FIELD: Record<string, string> = { api_url: 'apiURL', url: 'urlSecret' };
const camel = (name: string) => name.replace(/_(.)/g, (_, c: string) => c.toUpperCase());

function integration(i: Integration): Record<string, unknown> {
  return Object.fromEntries(Object.entries(i.settings).map(([k, v]) => [CRD_FIELD[k] ?? camel(k), isSecretRef(v) ? { name: v.name, key: v.key } : v]));
}

function receiver(r: RoutedReceiver): Record<string, unknown> {
  const out: Record<string, unknown> = { name: r.name };
  for (const i of r.integrations) ((out[`${i.kind}Configs`] ??= []) as unknown[]).push(integration(i));
  return out;
}

export function renderAlertmanagerConfig(qs: QwenService): KubeObject | undefined {
  const routing = routingOf(qs);
  if (!routing) return undefined;
  return {
    apiVersion: 'monitoring.coreos.com/v1alpha1',
    kind: 'AlertmanagerConfig',
    metadata: childMeta(qs, qs.metadata.name, { labels: qs.spec.monitoring?.alertmanagerConfigLabels ?? {} }),
    spec: {
      route: {
        receiver: routing.fallbackReceiver,
        groupBy: routing.groupBy,
        groupWait: routing.groupWait,
        groupInterval: routing.groupInterval,
        matchers: matchers(routing.matchers),
        routes: routing.routes.map((r) => ({
          matchers: matchers(r.matchers),
          receiver: r.receiver,
          repeatInterval: r.repeatInterval,
          ...(r.continue ? { continue: true } : {}),
        })),
      },
      inhibitRules: routing.inhibitions.map((i) => ({ sourceMatch: matchers(i.source), targetMatch: matchers(i.target), equal: i.equal })),
      receivers: routing.receivers.map(receiver),
    },
  };
}

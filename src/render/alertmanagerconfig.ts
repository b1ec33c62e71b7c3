// The AlertmanagerConfig (monitoring.coreos.com/v1alpha1) routing this QwenService's alerts:
// the same tree as the plain alertmanager.yml (src/sla/alertmanager.ts) in the CRD's shape.
// The Prometheus Operator adds a `namespace` matcher to the top route itself; credentials are
// SecretKeySelectors in the QwenService's namespace.
import type { QwenService, Receiver, SecretKeyRef } from '../api/qwenservice.ts';
import { BUDGET_BURN_ALERT } from '../sla/rules.ts';
import { GROUP_BY, REPEAT_INTERVAL, UNROUTED_RECEIVER, hasRouting, routesOf } from '../sla/alertmanager.ts';
import { childMeta, type KubeObject } from './common.ts';

const selectorOf = (ref: SecretKeyRef) => ({ name: ref.secretKeyRef.name, key: ref.secretKeyRef.key });
const eq = (name: string, value: string) => ({ name, value, matchType: '=' });

function receiver(r: Receiver): Record<string, unknown> {
  const out: Record<string, unknown> = { name: r.name };
  if (r.slack) out.slackConfigs = [{ apiURL: selectorOf(r.slack.apiURL), channel: r.slack.channel, sendResolved: true }];
  if (r.email) {
    const e: Record<string, unknown> = { to: r.email.to, sendResolved: true };
    if (r.email.from) e.from = r.email.from;
    if (r.email.smarthost) e.smarthost = r.email.smarthost;
    if (r.email.authUsername) e.authUsername = r.email.authUsername;
    if (r.email.authPassword) e.authPassword = selectorOf(r.email.authPassword);
    out.emailConfigs = [e];
  }
  if (r.webhook) out.webhookConfigs = [{ urlSecret: selectorOf(r.webhook.url), sendResolved: true }];
  if (r.pagerduty) out.pagerdutyConfigs = [{ routingKey: selectorOf(r.pagerduty.routingKey), sendResolved: true }];
  return out;
}

export function renderAlertmanagerConfig(qs: QwenService): KubeObject | undefined {
  const a = qs.spec.alerting;
  if (!hasRouting(a)) return undefined;
  const routes = routesOf(a);
  const receivers = a.receivers!.filter((r) => routes.some((x) => x.receiver === r.name));
  return {
    apiVersion: 'monitoring.coreos.com/v1alpha1',
    kind: 'AlertmanagerConfig',
    metadata: childMeta(qs, qs.metadata.name, { labels: qs.spec.monitoring?.alertmanagerConfigLabels ?? {} }),
    spec: {
      route: {
        receiver: UNROUTED_RECEIVER,
        groupBy: GROUP_BY,
        groupWait: '30s',
        groupInterval: '5m',
        matchers: [eq('qwenservice', qs.metadata.name)],
        routes: routes.map((r, i) => ({
          matchers: [eq('severity', r.severity)],
          receiver: r.receiver,
          repeatInterval: REPEAT_INTERVAL[r.severity],
          ...(i < routes.length - 1 ? { continue: true } : {}),
        })),
      },
      inhibitRules: [{
        sourceMatch: [eq('alertname', BUDGET_BURN_ALERT), eq('severity', 'critical')],
        targetMatch: [eq('alertname', BUDGET_BURN_ALERT), eq('severity', 'warning')],
        equal: ['namespace', 'qwenservice', 'slo'],
      }],
      receivers: [{ name: UNROUTED_RECEIVER }, ...receivers.map(receiver)],
    },
  };
}

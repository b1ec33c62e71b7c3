// How one QwenService's alerts are routed, decided once from spec.alerting. The AlertmanagerConfig
// (src/render/alertmanagerconfig.ts) and the plain alertmanager.yml (src/sla/alertmanager.ts) only
// spell this model in their formats. The tree: alerts of this QwenService, grouped per SLO and
// severity; each severity fans out to its receivers (sibling routes that keep matching); whatever
// no route takes ends at a receiver without integrations; a firing page inhibits the ticket of
// the same SLO. Integration settings carry Alertmanager's own names, so a new receiver kind is one
// case in integrationsOf and no renderer changes. Pure.
import type { Alerting, QwenService, Receiver, SecretKeyRef } from '../api/qwenservice.ts';
import { namespaceOf } from '../kube/object.ts';
import {
  ALERT_NAME_LABEL, BUDGET_BURN_ALERT, NAMESPACE_LABEL, QWENSERVICE_LABEL, SEVERITIES, SEVERITY_LABEL, SLO_LABEL, type Severity,
} from '../conventions.ts';

/** Label sets Alertmanager groups notifications by. */
const GROUP_BY = [ALERT_NAME_LABEL, NAMESPACE_LABEL, QWENSERVICE_LABEL, SLO_LABEL, SEVERITY_LABEL];
const GROUP_WAIT = '30s';
const GROUP_INTERVAL = '5m';
const REPEAT_INTERVAL: Record<Severity, string> = { critical: '1h', warning: '12h' };
/** Top-level receiver with no integrations: where alerts of a severity nobody subscribed to end. */
const UNROUTED_RECEIVER = 'unrouted';

/** An equality matcher, the only kind the routing needs. */
export type Matcher = { name: string; value: string };
/** A credential: a key of a Secret in the QwenService's namespace (never its value). */
export type SecretRef = { name: string; key: string };
/** A setting of an integration: a plain value, or a credential held in a Secret. */
export type Setting = string | boolean | SecretRef;
export type IntegrationKind = 'slack' | 'email' | 'webhook' | 'pagerduty';
/** One way a receiver delivers, settings named as in Alertmanager's config (snake_case), in output order. */
export type Integration = { kind: IntegrationKind; settings: Record<string, Setting> };
export type RoutedReceiver = { name: string; integrations: Integration[] };
export type Route = { matchers: Matcher[]; receiver: string; repeatInterval: string; continue: boolean };
export type Inhibition = { source: Matcher[]; target: Matcher[]; equal: string[] };

export type Routing = {
  /** Where the alerts come from. The Prometheus Operator scopes an AlertmanagerConfig to its own namespace by itself. */
  namespace: string;
  /** Select this QwenService's alerts within that namespace. */
  matchers: Matcher[];
  /** Receiver of alerts no route takes (first in `receivers`, without integrations). */
  fallbackReceiver: string;
  groupBy: string[];
  groupWait: string;
  groupInterval: string;
  /** One per (severity, receiver), in severity then declaration order. */
  routes: Route[];
  /** The fallback, then every receiver a route names (unreferenced ones are left out), in declaration order. */
  receivers: RoutedReceiver[];
  inhibitions: Inhibition[];
};

export const isSecretRef = (s: Setting): s is SecretRef => typeof s === 'object';

/** Whether the QwenService routes anything (receivers and at least one route). */
function hasRouting(a: Alerting | undefined): a is Alerting {
  return !!a?.receivers?.length && SEVERITIES.some((s) => (a.routes?.[s] ?? []).length > 0);
}

const eq = (name: string, value: string): Matcher => ({ name, value });
const secret = (ref: SecretKeyRef): SecretRef => ({ name: ref.secretKeyRef.name, key: ref.secretKeyRef.key });
/** Alertmanager treats an absent optional setting and an empty one alike: leave both out. */
const optional = (name: string, value: Setting | undefined): Record<string, Setting> => (value ? { [name]: value } : {});

function integrationsOf(r: Receiver): Integration[] {
  const out: Integration[] = [];
  if (r.slack) out.push({ kind: 'slack', settings: { api_url: secret(r.slack.apiURL), channel: r.slack.channel, send_resolved: true } });
  if (r.email) {
    out.push({
      kind: 'email',
      settings: {
        to: r.email.to, send_resolved: true,
        ...optional('from', r.email.from), ...optional('smarthost', r.email.smarthost),
        ...optional('auth_username', r.email.authUsername), ...optional('auth_password', r.email.authPassword && secret(r.email.authPassword)),
      },
    });
  }
  if (r.webhook) out.push({ kind: 'webhook', settings: { url: secret(r.webhook.url), send_resolved: true } });
  if (r.pagerduty) out.push({ kind: 'pagerduty', settings: { routing_key: secret(r.pagerduty.routingKey), send_resolved: true } });
  return out;
}

/** The routing of a QwenService's alerts; undefined when it routes nothing. */
export function routingOf(qs: QwenService): Routing | undefined {
  const a = qs.spec.alerting;
  if (!hasRouting(a)) return undefined;
  const subscriptions = SEVERITIES.flatMap((severity) => (a.routes?.[severity] ?? []).map((receiver) => ({ severity, receiver })));
  const routed = a.receivers!.filter((r) => subscriptions.some((s) => s.receiver === r.name));
  const burn = (severity: Severity) => [eq(ALERT_NAME_LABEL, BUDGET_BURN_ALERT), eq(SEVERITY_LABEL, severity)];
  return {
    namespace: namespaceOf(qs),
    matchers: [eq(QWENSERVICE_LABEL, qs.metadata.name)],
    fallbackReceiver: UNROUTED_RECEIVER,
    groupBy: GROUP_BY,
    groupWait: GROUP_WAIT,
    groupInterval: GROUP_INTERVAL,
    routes: subscriptions.map((s, i) => ({
      matchers: [eq(SEVERITY_LABEL, s.severity)],
      receiver: s.receiver,
      repeatInterval: REPEAT_INTERVAL[s.severity],
      // Every receiver of a severity gets it: keep matching the siblings.
      continue: i < subscriptions.length - 1,
    })),
    receivers: [{ name: UNROUTED_RECEIVER, integrations: [] }, ...routed.map((r) => ({ name: r.name, integrations: integrationsOf(r) }))],
    inhibitions: [{ source: burn('critical'), target: burn('warning'), equal: [NAMESPACE_LABEL, QWENSERVICE_LABEL, SLO_LABEL] }],
  };
}

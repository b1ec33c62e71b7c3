// Alert routing of one QwenService as a plain alertmanager.yml (`render --format alertmanager`),
// for stacks without the Prometheus Operator. The route tree is the same as the
// AlertmanagerConfig's: match namespace + qwenservice, then each severity fans out to its
// receivers (sibling routes with `continue`), and a firing page inhibits the ticket of the same
// SLO. Credentials are `*_file` paths under the Secret mount the Prometheus Operator would use
// (/etc/alertmanager/secrets/<secret>/<key>), never values. Pure.
import type { Alerting, QwenService, Receiver, SecretKeyRef } from '../api/qwenservice.ts';
import { BUDGET_BURN_ALERT } from './rules.ts';

export const SEVERITIES = ['critical', 'warning'] as const;
export const GROUP_BY = ['alertname', 'namespace', 'qwenservice', 'slo', 'severity'];
export const REPEAT_INTERVAL = { critical: '1h', warning: '12h' } as const;
/** Top-level receiver with no integrations: where alerts of a severity nobody subscribed to end. */
export const UNROUTED_RECEIVER = 'unrouted';
export const SECRETS_DIR = '/etc/alertmanager/secrets';

/** Whether the QwenService routes anything (receivers and at least one route). */
export function hasRouting(a: Alerting | undefined): a is Alerting {
  return !!a?.receivers?.length && SEVERITIES.some((s) => (a.routes?.[s] ?? []).length > 0);
}

/** The receivers each severity reaches, in declaration order. */
export function routesOf(a: Alerting): { severity: (typeof SEVERITIES)[number]; receiver: string }[] {
  return SEVERITIES.flatMap((severity) => (a.routes?.[severity] ?? []).map((receiver) => ({ severity, receiver })));
}

const file = (ref: SecretKeyRef) => `${SECRETS_DIR}/${ref.secretKeyRef.name}/${ref.secretKeyRef.key}`;

function plainReceiver(r: Receiver): Record<string, unknown> {
  const out: Record<string, unknown> = { name: r.name };
  if (r.slack) out.slack_configs = [{ api_url_file: file(r.slack.apiURL), channel: r.slack.channel, send_resolved: true }];
  if (r.email) {
    const e: Record<string, unknown> = { to: r.email.to, send_resolved: true };
    if (r.email.from) e.from = r.email.from;
    if (r.email.smarthost) e.smarthost = r.email.smarthost;
    if (r.email.authUsername) e.auth_username = r.email.authUsername;
    if (r.email.authPassword) e.auth_password_file = file(r.email.authPassword);
    out.email_configs = [e];
  }
  // url_file needs Alertmanager >= 0.26.
  if (r.webhook) out.webhook_configs = [{ url_file: file(r.webhook.url), send_resolved: true }];
  if (r.pagerduty) out.pagerduty_configs = [{ routing_key_file: file(r.pagerduty.routingKey), send_resolved: true }];
  return out;
}

export function renderAlertmanagerYaml(qs: QwenService): Record<string, unknown> | undefined {
  const a = qs.spec.alerting;
  if (!hasRouting(a)) return undefined;
  const ns = qs.metadata.namespace ?? 'default';
  const name = qs.metadata.name;
  const routes = routesOf(a);
  const receivers = a.receivers!.filter((r) => routes.some((x) => x.receiver === r.name));
  const config: Record<string, unknown> = {};
  // Alertmanager has no built-in SMTP defaults: e-mail receivers that name no server need these.
  if (receivers.some((r) => r.email && (!r.email.smarthost || !r.email.from))) {
    config.global = { smtp_smarthost: 'localhost:25', smtp_from: `alertmanager@${ns}.local` };
  }
  config.route = {
    receiver: UNROUTED_RECEIVER,
    group_by: GROUP_BY,
    group_wait: '30s',
    group_interval: '5m',
    routes: [{
      matchers: [`namespace="${ns}"`, `qwenservice="${name}"`],
      routes: routes.map((r, i) => ({
        matchers: [`severity="${r.severity}"`],
        receiver: r.receiver,
        repeat_interval: REPEAT_INTERVAL[r.severity],
        // Every receiver of a severity gets it: keep matching the siblings.
        ...(i < routes.length - 1 ? { continue: true } : {}),
      })),
    }],
  };
  config.inhibit_rules = [{
    source_matchers: [`alertname="${BUDGET_BURN_ALERT}"`, 'severity="critical"'],
    target_matchers: [`alertname="${BUDGET_BURN_ALERT}"`, 'severity="warning"'],
    equal: ['namespace', 'qwenservice', 'slo'],
  }];
  config.receivers = [{ name: UNROUTED_RECEIVER }, ...receivers.map(plainReceiver)];
  return config;
}

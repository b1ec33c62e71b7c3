// Alert routing of one QwenService as a plain alertmanager.yml (`render --format alertmanager`),
// for stacks without the Prometheus Operator: the routing model (./routing.ts) in Alertmanager's
// own config format. Unlike an AlertmanagerConfig nothing scopes it to a namespace, so the tree
// matches the namespace itself. Credentials are `*_file` paths under the Secret mount the
// Prometheus Operator would use (/etc/alertmanager/secrets/<secret>/<key>), never values. Pure.
import type { QwenService } from '../api/qwenservice.ts';
import { NAMESPACE_LABEL } from '../conventions.ts';
import { isSecretRef, routingOf, type Integration, type Matcher, type RoutedReceiver, type SecretRef } from './routing.ts';

export const SECRETS_DIR = '/etc/alertmanager/secrets';

const file = (ref: SecretRef) => `${SECRETS_DIR}/${ref.name}/${ref.key}`;
const matchers = (ms: Matcher[]) => ms.map((m) => `${m.name}="${m.value}"`);

// Secret settings become `<name>_file` (webhook url_file needs Alertmanager >= 0.26).
function integration(i: Integration): Record<string, unknown> {
  return Object.fromEntries(Object.entries(i.settings).map(([k, v]) => (isSecretRef(v) ? [`${k}_file`, file(v)] : [k, v])));
}

function receiver(r: RoutedReceiver): Record<string, unknown> {
  const out: Record<string, unknown> = { name: r.name };
  for (const i of r.integrations) ((out[`${i.kind}_configs`] ??= []) as unknown[]).push(integration(i));
  return out;
}

// Alertmanager has no built-in SMTP defaults: e-mail integrations that name no server need these.
const needsSmtpDefaults = (receivers: RoutedReceiver[]) =>
  receivers.some((r) => r.integrations.some((i) => i.kind === 'email' && (!i.settings.smarthost || !i.settings.from)));

export function renderAlertmanagerYaml(qs: QwenService): Record<string, unknown> | undefined {
  const routing = routingOf(qs);
  if (!routing) return undefined;
  const config: Record<string, unknown> = {};
  if (needsSmtpDefaults(routing.receivers)) config.global = { smtp_smarthost: 'localhost:25', smtp_from: `alertmanager@${routing.namespace}.local` };
  config.route = {
    receiver: routing.fallbackReceiver,
    group_by: routing.groupBy,
    group_wait: routing.groupWait,
    group_interval: routing.groupInterval,
    routes: [{
      matchers: matchers([{ name: NAMESPACE_LABEL, value: routing.namespace }, ...routing.matchers]),
      routes: routing.routes.map((r) => ({
        matchers: matchers(r.matchers),
        receiver: r.receiver,
        repeat_interval: r.repeatInterval,
        ...(r.continue ? { continue: true } : {}),
      })),
    }],
  };
  config.inhibit_rules = routing.inhibitions.map((i) => ({ source_matchers: matchers(i.source), target_matchers: matchers(i.target), equal: i.equal }));
  config.receivers = routing.receivers.map(receiver);
  return config;
}

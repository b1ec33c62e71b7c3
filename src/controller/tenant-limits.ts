// What a QwenService may ask for beyond its own namespace's objects, as the operator is configured
// (chart values allowedImagePrefixes / allowedSmarthosts, flags of `qwen-operator run`). Creating
// a QwenService is a grant of its own: the operator's pods mount the API key Secret it names into
// the image it names (spec.image), and Alertmanager sends the SMTP password it names to the
// smarthost it names. Where that grant reaches people who may not run pods or read Secrets
// themselves, these limits keep the image and the SMTP server the operator's administrators'
// choice. Empty = no limit (what a tenant who can run pods could do anyway). Pure.
import type { QwenService } from '../api/qwenservice.ts';
import { Reason } from '../conventions.ts';

export type TenantLimits = {
  /** spec.image must start with one of these, ending at `/`, `:` or `@` (a registry, repository or tag). Empty = any image. */
  allowedImagePrefixes: string[];
  /** An e-mail receiver's smarthost must be one of these: `host` (any port) or `host:port`. Empty = any smarthost. */
  allowedSmarthosts: string[];
};

export const NO_TENANT_LIMITS: TenantLimits = { allowedImagePrefixes: [], allowedSmarthosts: [] };

/** Where each limit is set, as the refusal names it. */
export const LIMIT_SETTING = {
  allowedImagePrefixes: 'chart value allowedImagePrefixes, flag --allowed-image-prefixes',
  allowedSmarthosts: 'chart value allowedSmarthosts, flag --allowed-smarthosts',
} as const;

export type LimitRefusal = { reason: typeof Reason.ImageNotAllowed | typeof Reason.SmarthostNotAllowed; message: string };

/**
 * True when `image` starts with `prefix` at a boundary: `ghcr.io/qwenops` allows
 * `ghcr.io/qwenops/worker:1` and `ghcr.io/qwenops:1`, never `ghcr.io/qwenops-evil/x`.
 */
export function imageAllowed(image: string, prefix: string): boolean {
  if (!image.startsWith(prefix)) return false;
  if (image.length === prefix.length || /[/:@]$/.test(prefix)) return true;
  return '/:@'.includes(image[prefix.length]!);
}

/** host and port of `host:port` (the schema's HOST_PORT_PATTERN: a name, IPv4 or [IPv6]), host lowercased. */
function splitHostPort(hostPort: string): { host: string; port?: string } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::([0-9]+))?$/.exec(hostPort.trim());
  return m ? { host: m[1]!.toLowerCase(), ...(m[2] ? { port: m[2] } : {}) } : { host: hostPort.trim().toLowerCase() };
}

/** True when the smarthost `host:port` is the allowed `host` (any port) or `host:port`. */
export function smarthostAllowed(smarthost: string, allowed: string): boolean {
  const s = splitHostPort(smarthost), a = splitHostPort(allowed);
  return s.host === a.host && (a.port === undefined || a.port === s.port);
}

/** Whether a `--allowed-smarthosts` entry is `host` or `host:port`. */
export function isSmarthostEntry(entry: string): boolean {
  return /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)(:[0-9]{1,5})?$/.test(entry);
}

/**
 * Every way the QwenService asks for more than the limits allow; [] when it stays within them.
 * The operator's own worker and router images are always allowed: they are the administrators'
 * choice already. spec.router.image is held to the same prefixes as spec.image: its pods run with
 * the API key Secret and a token that reads EndpointSlices.
 */
export function checkTenantLimits(qs: QwenService, limits: TenantLimits, workerImage: string, routerImage?: string): LimitRefusal[] {
  const out: LimitRefusal[] = [];
  const prefixes = limits.allowedImagePrefixes;
  const images: [string, string | undefined, string, string | undefined][] = [
    ['spec.image', qs.spec.image, 'worker', workerImage],
    ['spec.router.image', qs.spec.router?.image, 'router', routerImage],
  ];
  for (const [field, image, role, own] of images) {
    if (image === undefined || image === own || !prefixes.length || prefixes.some((p) => imageAllowed(image, p))) continue;
    out.push({
      reason: Reason.ImageNotAllowed,
      message: `${field} ${JSON.stringify(image)} is not allowed: images must start with ${prefixes.join(' or ')} (${LIMIT_SETTING.allowedImagePrefixes})${own ? `, or be the operator's ${role} image ${own}` : ''}`,
    });
  }
  const hosts = limits.allowedSmarthosts;
  if (hosts.length) {
    (qs.spec.alerting?.receivers ?? []).forEach((r, i) => {
      const smarthost = r.email?.smarthost;
      if (smarthost === undefined || hosts.some((h) => smarthostAllowed(smarthost, h))) return;
      out.push({
        reason: Reason.SmarthostNotAllowed,
        message: `spec.alerting.receivers[${i}].email.smarthost ${JSON.stringify(smarthost)} is not allowed: smarthosts must be ${hosts.join(' or ')} (${LIMIT_SETTING.allowedSmarthosts}); leave it empty for Alertmanager's own`,
      });
    });
  }
  return out;
}

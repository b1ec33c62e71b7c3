// Grammars of the Kubernetes (and worker) values a QwenService carries, as regex sources that
// mean the same in JavaScript (zod) and in Go's RE2 (the apiserver's OpenAPI `pattern`): no
// lookaround, no `\s`/`\S` (JavaScript's include Unicode spaces, RE2's do not), no flags.
// Whatever the apiserver or the worker would refuse later is refused here, at admission.

/** Whitespace spelled out so both engines agree. */
const WS = ' \\t\\n\\r\\f\\v';
const NON_SPACE = `[^${WS}]`;

/** A label value (k8s.io/apimachinery IsValidLabelValue): empty, or alphanumerics around `-_.`, at most 63. */
export const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$';

/** A label key (a qualified name): an optional DNS-subdomain prefix and `/`, then a label-value-like name of 1-63. */
export const LABEL_KEY_PATTERN = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';

/** A DNS-1123 subdomain (Secret names). */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** A key of a Secret or ConfigMap (IsConfigMapKey): `[-._a-zA-Z0-9]+`, not `.`, `..` nor starting with `..`. */
export const CONFIG_KEY_PATTERN = '^\\.?[-_a-zA-Z0-9][-._a-zA-Z0-9]*$';

/**
 * A resource.Quantity as ParseQuantity reads it, non-negative (pods refuse negative requests):
 * digits with an optional fraction, then a binary-SI suffix, a decimal-SI suffix, or an integer
 * exponent. `10Gi`, `1.5`, `100m`, `1e3`, `.5`; not `10 GB`, `1.2.3`, `1K`, `1e1.5`.
 */
export const QUANTITY_PATTERN = '^\\+?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][-+]?[0-9]+))?$';

/**
 * An absolute http(s) URL of printable ASCII without spaces: a non-empty authority of RFC 3986
 * characters, then an optional path, query or fragment. Template delimiters are refused by a
 * separate rule (TEMPLATE_FREE), since RE2 cannot say "no `{{`" without lookahead.
 */
export const HTTP_URL_PATTERN = "^https?://[-A-Za-z0-9._~%!$&'()*+,;=:@\\[\\]]+([/?#][!-~]*)?$";

/** host:port for SMTP: a DNS name, an IPv4 address or a bracketed IPv6 address, and a port 1-65535. */
export const HOST_PORT_PATTERN =
  '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$';

/** An IPv4 or IPv6 CIDR (NetworkPolicy ipBlock). IPv6 is checked loosely; the apiserver has the last word. */
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
export const CIDR_PATTERN = `^((${OCTET}\\.){3}${OCTET}/(3[0-2]|[12]?[0-9])|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$`;

/**
 * A model source, mirroring what the worker accepts (worker/src/model-source.ts hfUrl /
 * parseModelSpec): `hf:<owner>/<repo>:<quant>` or `hf:<owner>/<repo>/<path>.gguf` (owner, repo
 * and quant of `[\w.-]`; owner and repo start with a letter or digit, as Hugging Face requires),
 * an https URL (the worker refuses plain http:// downloads unless started with
 * --allow-http-download, which the operator never passes), `file:///path` or `pvc://claim/path`;
 * never whitespace.
 */
const HF_NAME = '[A-Za-z0-9_.-]+';
/** An owner or repository name: Hugging Face's own rule, and never a word the worker could read as a flag. */
const HF_REPO = '[A-Za-z0-9][A-Za-z0-9_.-]*';
export const MODEL_SOURCE_PATTERN =
  `^(hf:${HF_REPO}/${HF_REPO}:${HF_NAME}|hf:${HF_REPO}/${HF_REPO}/${NON_SPACE}+\\.[gG][gG][uU][fF]|https://${NON_SPACE}+|file:///${NON_SPACE}+|pvc://[a-z0-9-]+/${NON_SPACE}+)$`;

/** The served model id (worker --model-name, a metric label): starts with a letter or digit, so it is never read as a flag. */
export const MODEL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]*$';

/**
 * An e-mail address as Alertmanager's `to`: one `@` between two runs of anything but `@` and
 * whitespace (spelled out: `\\s` is wider in JavaScript than in RE2).
 */
export const EMAIL_ADDRESS_PATTERN = `^[^@${WS}]+@[^@${WS}]+$`;

/** True when Prometheus (or Alertmanager) would not execute anything in the text as a Go template. */
export const templateFree = (s: string): boolean => !s.includes('{{') && !s.includes('}}');
export const TEMPLATE_FREE_CEL = "!self.contains('{{') && !self.contains('}}')";

/** True when a pvc:// path climbs out of its claim (a `..` segment); other sources pass. */
export const escapesClaim = (s: string): boolean => s.startsWith('pvc://') && (s.includes('/../') || s.endsWith('/..'));
export const NO_CLAIM_ESCAPE_CEL = "!(self.startsWith('pvc://') && (self.contains('/../') || self.endsWith('/..')))";

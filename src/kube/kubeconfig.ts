// Where the operator's credentials come from: a kubeconfig file or the in-cluster service
// account. Plain certificates and tokens are read here directly; kubeconfigs that need a
// credential plugin (exec, auth-provider) go through client-node's KubeConfig, loaded only then.
// Why: importing client-node costs ~80 MB of RSS (its generated API), about half the operator's
// budget, and the operator needs none of it for the common cases.
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { dirname, isAbsolute, join } from 'node:path';
import { load } from 'js-yaml';

/** What KubeClient needs from a kubeconfig (client-node's KubeConfig satisfies it too). */
export type KubeAuth = {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
};

type NamedCluster = { name: string; cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean; 'tls-server-name'?: string } };
type NamedUser = { name: string; user: { 'client-certificate'?: string; 'client-certificate-data'?: string; 'client-key'?: string; 'client-key-data'?: string; token?: string; tokenFile?: string; username?: string; password?: string; exec?: unknown; 'auth-provider'?: unknown } };
type Kubeconfig = { clusters?: NamedCluster[]; users?: NamedUser[]; contexts?: Array<{ name: string; context: { cluster: string; user: string } }>; 'current-context'?: string };

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

type Material = { server: string; ca?: Buffer; cert?: Buffer; key?: Buffer; token?: string; tokenFile?: string; insecure?: boolean; servername?: string; basic?: string };

export class FileKubeAuth implements KubeAuth {
  private readonly m: Material;
  constructor(material: Material) {
    this.m = material;
  }

  getCurrentCluster(): { server: string } {
    return { server: this.m.server };
  }

  async applyToHTTPSOptions(opts: RequestOptions): Promise<void> {
    if (this.m.ca) opts.ca = this.m.ca;
    if (this.m.cert) opts.cert = this.m.cert;
    if (this.m.key) opts.key = this.m.key;
    if (this.m.insecure) opts.rejectUnauthorized = false;
    if (this.m.servername) opts.servername = this.m.servername;
    if (this.m.basic) opts.auth = this.m.basic;
    // Projected service-account tokens rotate: read the file on every call (callers cache a minute).
    const token = this.m.tokenFile ? readFileSync(this.m.tokenFile, 'utf8').trim() : this.m.token;
    if (token) opts.headers = { ...(opts.headers as Record<string, string> | undefined), authorization: `Bearer ${token}` };
  }
}

/** The pod's service account (KUBERNETES_SERVICE_HOST/PORT and the mounted token and CA). */
export function inClusterAuth(env: NodeJS.ProcessEnv = process.env, dir = SA_DIR): FileKubeAuth {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST unset) and no kubeconfig given');
  return new FileKubeAuth({ server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, ca: readFileSync(join(dir, 'ca.crt')), tokenFile: join(dir, 'token') });
}

/** A kubeconfig's current context; undefined when its user needs a credential plugin. */
export function fileAuth(path: string): FileKubeAuth | undefined {
  const doc = load(readFileSync(path, 'utf8')) as Kubeconfig;
  const base = dirname(path);
  const file = (p: string | undefined) => (p ? readFileSync(isAbsolute(p) ? p : join(base, p)) : undefined);
  const data = (d: string | undefined) => (d ? Buffer.from(d, 'base64') : undefined);
  const contextName = doc['current-context'];
  const context = doc.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new Error(`${path}: current-context "${contextName ?? ''}" not found`);
  const cluster = doc.clusters?.find((c) => c.name === context.cluster)?.cluster;
  const user = doc.users?.find((u) => u.name === context.user)?.user ?? {};
  if (!cluster?.server) throw new Error(`${path}: cluster "${context.cluster}" has no server`);
  if (user.exec || user['auth-provider']) return undefined;
  return new FileKubeAuth({
    server: cluster.server,
    ca: data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']),
    cert: data(user['client-certificate-data']) ?? file(user['client-certificate']),
    key: data(user['client-key-data']) ?? file(user['client-key']),
    ...(user.token ? { token: user.token } : {}),
    ...(user.tokenFile ? { tokenFile: isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile) } : {}),
    ...(cluster['insecure-skip-tls-verify'] ? { insecure: true } : {}),
    ...(cluster['tls-server-name'] ? { servername: cluster['tls-server-name'] } : {}),
    ...(user.username ? { basic: `${user.username}:${user.password ?? ''}` } : {}),
  });
}

/** The operator's credentials: a kubeconfig path, or in-cluster when none is given. */
export async function loadKubeAuth(kubeconfigPath: string | undefined): Promise<KubeAuth> {
  if (!kubeconfigPath) return inClusterAuth();
  const plain = fileAuth(kubeconfigPath.split(':')[0]!);
  if (plain) return plain;
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

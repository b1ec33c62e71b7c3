// Where the operator's credentials come from: kubeconfig files or the in-cluster service
// account. Plain certificates and tokens are read here directly; kubeconfigs that need a
// credential plugin (exec, auth-provider) go through client-node's KubeConfig, loaded only then.
// Why: importing client-node costs ~80 MB of RSS (its generated API), about half the operator's
// budget, and the operator needs none of it for the common cases.
// Several files (KUBECONFIG=a:b) are merged as kubectl merges them (see mergeKubeconfigs).
import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { dump, load } from 'js-yaml';

/** What KubeClient needs from a kubeconfig (client-node's KubeConfig satisfies it too). */
export type KubeAuth = {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
};

type NamedCluster = { name: string; cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean; 'tls-server-name'?: string } };
type NamedUser = { name: string; user: { 'client-certificate'?: string; 'client-certificate-data'?: string; 'client-key'?: string; 'client-key-data'?: string; token?: string; tokenFile?: string; username?: string; password?: string; exec?: unknown; 'auth-provider'?: unknown } };
type NamedContext = { name: string; context: { cluster: string; user: string } };
type Kubeconfig = { clusters?: NamedCluster[]; users?: NamedUser[]; contexts?: NamedContext[]; 'current-context'?: string; [field: string]: unknown };

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

type Material = { server: string; ca?: Buffer; cert?: Buffer; key?: Buffer; token?: string; tokenFile?: string; insecure?: boolean; servername?: string; basic?: string };

export class FileKubeAuth implements KubeAuth {
  private readonly material: Material;
  constructor(material: Material) {
    this.material = material;
  }

  getCurrentCluster(): { server: string } {
    return { server: this.material.server };
  }

  async applyToHTTPSOptions(opts: RequestOptions): Promise<void> {
    if (this.material.ca) opts.ca = this.material.ca;
    if (this.material.cert) opts.cert = this.material.cert;
    if (this.material.key) opts.key = this.material.key;
    if (this.material.insecure) opts.rejectUnauthorized = false;
    if (this.material.servername) opts.servername = this.material.servername;
    if (this.material.basic) opts.auth = this.material.basic;
    // Projected service-account tokens rotate: read the file on every call (callers cache a minute).
    const token = this.material.tokenFile ? readFileSync(this.material.tokenFile, 'utf8').trim() : this.material.token;
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

/** Reads one kubeconfig with its file references made absolute (they are relative to the file that names them). */
function readKubeconfig(path: string): Kubeconfig {
  const doc = (load(readFileSync(path, 'utf8')) ?? {}) as Kubeconfig;
  const base = dirname(path);
  const absolute = (p: string | undefined) => (p && !isAbsolute(p) ? join(base, p) : p);
  for (const { cluster } of doc.clusters ?? []) {
    if (cluster?.['certificate-authority']) cluster['certificate-authority'] = absolute(cluster['certificate-authority']);
  }
  for (const { user } of doc.users ?? []) {
    if (!user) continue;
    if (user['client-certificate']) user['client-certificate'] = absolute(user['client-certificate']);
    if (user['client-key']) user['client-key'] = absolute(user['client-key']);
    if (user.tokenFile) user.tokenFile = absolute(user.tokenFile);
  }
  return doc;
}

/**
 * The kubeconfig of a KUBECONFIG-style list of files (`a:b`), merged as kubectl merges them: the
 * first file to define a cluster, user or context of a given name wins (later ones never replace
 * it), and so does the first file to set current-context. Files of the list that do not exist are
 * skipped; a single path must exist.
 */
export function mergeKubeconfigs(pathList: string): Kubeconfig {
  const paths = pathList.split(delimiter).filter(Boolean);
  if (paths.length === 1) return readKubeconfig(paths[0]!);
  const docs = paths.filter((p) => existsSync(p)).map(readKubeconfig);
  if (!docs.length) throw new Error(`${pathList}: none of these kubeconfig files exists`);
  const firstByName = <T extends { name: string }>(lists: Array<T[] | undefined>): T[] => {
    const byName = new Map<string, T>();
    for (const item of lists.flatMap((l) => l ?? [])) if (!byName.has(item.name)) byName.set(item.name, item);
    return [...byName.values()];
  };
  const currentContext = docs.find((d) => d['current-context'])?.['current-context'];
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: firstByName(docs.map((d) => d.clusters)),
    users: firstByName(docs.map((d) => d.users)),
    contexts: firstByName(docs.map((d) => d.contexts)),
    ...(currentContext ? { 'current-context': currentContext } : {}),
  };
}

/** The current context of kubeconfig files (one path, or several joined by `:`); undefined when its user needs a credential plugin. */
export function fileAuth(pathList: string): FileKubeAuth | undefined {
  return authOf(mergeKubeconfigs(pathList), pathList);
}

function authOf(doc: Kubeconfig, path: string): FileKubeAuth | undefined {
  const file = (p: string | undefined) => (p ? readFileSync(p) : undefined);
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
    ...(user.tokenFile ? { tokenFile: user.tokenFile } : {}),
    ...(cluster['insecure-skip-tls-verify'] ? { insecure: true } : {}),
    ...(cluster['tls-server-name'] ? { servername: cluster['tls-server-name'] } : {}),
    ...(user.username ? { basic: `${user.username}:${user.password ?? ''}` } : {}),
  });
}

/** The operator's credentials: kubeconfig files (a path, or several joined by `:`), or in-cluster when none is given. */
export async function loadKubeAuth(kubeconfigPaths: string | undefined): Promise<KubeAuth> {
  if (!kubeconfigPaths) return inClusterAuth();
  const merged = mergeKubeconfigs(kubeconfigPaths);
  const plain = authOf(merged, kubeconfigPaths);
  if (plain) return plain;
  // A credential plugin: client-node runs it. It gets the merged document, whose file
  // references are already absolute.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromString(dump(merged, { noRefs: true }));
  return kc;
}

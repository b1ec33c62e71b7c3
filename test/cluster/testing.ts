// What integration tests import: the cluster the jest globalSetup started (or one named by
// QWEN_TEST_CLUSTER), plus per-file namespaces. Tests that need to restart the apiserver or
// compact etcd start their own with startCluster() from ./cluster.ts (about 3 s) so they do not
// disturb the shared one; compacting the shared etcd is harmless and available as compactEtcd().
import { KubeConfig } from '@kubernetes/client-node';
import { loadClusterInfo, newNamespace, type ClusterInfo } from './client.ts';

let cached: ClusterInfo | undefined;

/** The shared test cluster; throws when no globalSetup ran (e.g. a unit-project test). */
export function testCluster(): ClusterInfo {
  if (cached) return cached;
  const path = process.env.QWEN_TEST_CLUSTER;
  if (!path) throw new Error('QWEN_TEST_CLUSTER is not set: run integration tests through jest (project "integration"), whose globalSetup starts the cluster');
  cached = loadClusterInfo(path);
  return cached;
}

/** A client-node KubeConfig for the shared cluster. */
export function testKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testCluster().kubeconfigPath);
  return kc;
}

/** A fresh namespace for one test file: `<prefix>-<random>`. */
export function testNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  return newNamespace(testCluster(), prefix, labels);
}

export function hasComponent(name: 'kube-controller-manager' | 'kube-scheduler' | 'kwok'): boolean {
  return testCluster().components?.includes(name) ?? false;
}

/** Compacts the shared etcd at its current revision (old resourceVersions then answer 410 Gone). */
export async function compactEtcd(): Promise<number> {
  const { etcdUrl } = testCluster();
  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => (await fetch(`${etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<Record<string, unknown>>;
  const r = await post('/v3/kv/range', { key: Buffer.from('/registry').toString('base64'), count_only: true });
  const rev = Number((r.header as { revision: string }).revision);
  await post('/v3/kv/compaction', { revision: String(rev), physical: true });
  return rev;
}

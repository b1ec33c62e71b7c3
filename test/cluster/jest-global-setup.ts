// Jest globalSetup of the 'integration' project: one full control plane (etcd, kube-apiserver,
// controller-manager, scheduler, kwok with CPU and GPU nodes) per `npm test` run. Workers find it
// through QWEN_TEST_CLUSTER (path of cluster.json, see test/cluster/testing.ts) and KUBECONFIG.
// With QWEN_TEST_CLUSTER already set, that cluster is reused and nothing is started.
import { DEFAULT_NODES, startCluster, type Cluster } from './cluster.ts';

declare global {
  var __QWEN_TEST_CLUSTER__: Cluster | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.QWEN_TEST_CLUSTER) return;
  const started = Date.now();
  const cluster = await startCluster({ controllers: true, scheduler: true, kwokNodes: DEFAULT_NODES });
  globalThis.__QWEN_TEST_CLUSTER__ = cluster;
  process.env.QWEN_TEST_CLUSTER = cluster.infoPath;
  process.env.KUBECONFIG = cluster.kubeconfigPath;
  process.stderr.write(`\n[cluster] test control plane up in ${Date.now() - started} ms (logs: ${cluster.runDir}/logs)\n`);
}

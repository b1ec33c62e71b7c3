// The harness itself: versions, a private cluster whose apiserver restarts and whose etcd compacts
// (what the operator's watch-recovery tests build on), and a clean stop.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../../support/tools.ts';
import { startCluster, type Cluster } from '../../cluster/cluster.ts';
import { kubeCall, kubectl, kubeRequest } from '../../cluster/client.ts';
import { testCluster } from '../../cluster/testing.ts';

const versions = JSON.parse(readFileSync(join(cacheDir, 'cluster-versions.json'), 'utf8')) as { kubernetes: string };

describe('shared test cluster', () => {
  test('discovery reports the pinned Kubernetes version', async () => {
    const v = await kubeCall(testCluster(), 'GET', '/version');
    expect(v.gitVersion).toBe(versions.kubernetes);
  });

  test('kubectl lists the kwok nodes, GPU products included', async () => {
    const res = await kubectl(testCluster(), ['get', 'nodes', '-L', 'nvidia.com/gpu.product', '--no-headers']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/kwok-gpu-l4-0\s+Ready.*NVIDIA-L4/);
    expect(res.stdout).toMatch(/kwok-gpu-a100-0\s+Ready.*NVIDIA-A100/);
  });

  test('RBAC is on: an unknown service account may not list pods', async () => {
    const res = await kubeRequest(testCluster(), 'GET', '/api/v1/namespaces/default/pods', undefined, {});
    expect(res.status).toBe(200); // the admin is in system:masters
    const review = await kubeCall(testCluster(), 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: { user: 'system:serviceaccount:default:nobody', resourceAttributes: { verb: 'list', resource: 'pods', namespace: 'default' } },
    });
    expect(review.status.allowed).toBe(false);
  });
});

describe('a private cluster (apiserver restart, etcd compaction)', () => {
  let c: Cluster;
  beforeAll(async () => { c = await startCluster({ watchCache: false }); }, 120_000);
  afterAll(async () => { await c?.stop(); }, 60_000);

  test('data survives an apiserver restart', async () => {
    await kubeCall(c, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep' }, data: { a: '1' } });
    await c.restartApiserver();
    const cm = await kubeCall(c, 'GET', '/api/v1/namespaces/default/configmaps/keep');
    expect(cm.data).toEqual({ a: '1' });
  }, 60_000);

  test('after compaction an old resourceVersion answers 410 Gone', async () => {
    const first = await kubeCall(c, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'old' } });
    const oldRv = first.metadata.resourceVersion as string;
    for (let i = 0; i < 3; i++) await kubeCall(c, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `new-${i}` } });
    const rev = await c.compactEtcd();
    expect(rev).toBeGreaterThan(Number(oldRv));
    const watch = await kubeRequest(c, 'GET', '/api/v1/namespaces/default/configmaps', undefined, { query: { watch: 'true', resourceVersion: oldRv, timeoutSeconds: 1 } });
    expect(watch.text).toMatch(/"code":410|too old resource version/);
    const listed = await kubeRequest(c, 'GET', '/api/v1/namespaces/default/configmaps', undefined, { query: { resourceVersion: oldRv, resourceVersionMatch: 'Exact' } });
    expect(listed.status).toBe(410);
  }, 60_000);

  test('stop() ends every process and removes the data, keeping the logs', async () => {
    const pids = JSON.parse(readFileSync(join(c.runDir, 'pids.json'), 'utf8')).procs as { pid: number }[];
    expect(pids.length).toBe(2);
    await c.stop();
    for (const { pid } of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(join(c.runDir, 'etcd-data'))).toBe(false);
    expect(existsSync(join(c.runDir, 'logs', 'kube-apiserver.log'))).toBe(true);
  }, 60_000);
});

// The router's EndpointSlice source on the real apiserver: slices made by hand (no pods: the slice is
// what the router reads, whoever wrote it), readiness flipped, slices deleted, and a watch that starts
// without the right to list and must recover once the Role is granted (the informer of client-node
// stops for good on such an error; the source restarts it).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { createServer } from 'node:http';
import { apply, remove, waitFor, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testKubeConfig, testNamespace } from '../../cluster/testing.ts';
import { endpointSliceSource } from '../../../router/src/endpoint-slices.ts';
import type { Endpoint } from '../../../router/src/endpoints.ts';
import { PEER_LOAD_PATH } from '../../../router/src/contract.ts';
import { peersFromService } from '../../../router/src/peers.ts';

const DISCOVERY = 'discovery.k8s.io/v1';
const ADMIN_PORT = 19090 + Math.floor(Math.random() * 1000);

type SliceEndpoint = { address: string; ready?: boolean; terminating?: boolean };
function slice(ns: string, name: string, service: string, endpoints: SliceEndpoint[], addressType: 'IPv4' | 'IPv6' = 'IPv4', extraLabels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: DISCOVERY, kind: 'EndpointSlice',
    // Not the endpointslice controller's: it leaves slices managed by others alone.
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'qwen-test', ...extraLabels } },
    addressType,
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({ addresses: [e.address], conditions: { ready: e.ready ?? true, ...(e.terminating === undefined ? {} : { terminating: e.terminating }) } })),
  } as KubeObject;
}

const ids = (e: readonly Endpoint[]) => e.map((x) => x.id);

let ns: string;
const sources: { close(): void }[] = [];
beforeAll(async () => { ns = await testNamespace('router-slices'); }, 60_000);
afterAll(() => { for (const s of sources) s.close(); });

describe('endpointSliceSource', () => {
  it('follows the ready endpoints of one Service: readiness, terminating, IPv6, duplicates, deletion; notifies on changes only', async () => {
    const info = testCluster();
    await apply(info, slice(ns, 'workers-a', 'workers', [{ address: '10.0.0.1' }, { address: '10.0.0.2', ready: false }]));
    await apply(info, slice(ns, 'other-a', 'other', [{ address: '10.9.9.9' }]));
    const source = endpointSliceSource({ kubeConfig: testKubeConfig(), namespace: ns, service: 'workers', port: 'http' });
    sources.push(source);
    const changes: string[][] = [];
    source.subscribe((e) => changes.push(ids(e)));
    await source.synced;
    expect(ids(source.current())).toEqual(['10.0.0.1:8080']);
    expect(source.current()[0]!.url).toBe('http://10.0.0.1:8080');

    // Readiness flips; a second slice repeats an address (deduplicated) and adds IPv6 (bracketed).
    await apply(info, slice(ns, 'workers-a', 'workers', [{ address: '10.0.0.1' }, { address: '10.0.0.2' }]));
    await apply(info, slice(ns, 'workers-b', 'workers', [{ address: 'fd00::5' }], 'IPv6'));
    await apply(info, slice(ns, 'workers-c', 'workers', [{ address: '10.0.0.2' }, { address: '10.0.0.3', ready: false, terminating: true }]));
    await waitFor('three ready endpoints', () => source.current().length === 3, 15_000);
    expect(ids(source.current())).toEqual(['10.0.0.1:8080', '10.0.0.2:8080', '[fd00::5]:8080']);
    expect(source.current().find((e) => e.id.startsWith('['))!.url).toBe('http://[fd00::5]:8080');

    // A change the endpoints do not see (a label) notifies nobody.
    const before = changes.length;
    await apply(info, slice(ns, 'workers-b', 'workers', [{ address: 'fd00::5' }], 'IPv6', { unrelated: 'yes' }));
    await apply(info, slice(ns, 'workers-a', 'workers', [{ address: '10.0.0.1', ready: false }, { address: '10.0.0.2' }]));
    await waitFor('10.0.0.1 not ready', () => !ids(source.current()).includes('10.0.0.1:8080'), 15_000);
    expect(changes.length).toBe(before + 1);
    expect(changes.at(-1)).toEqual(['10.0.0.2:8080', '[fd00::5]:8080']);

    await remove(info, DISCOVERY, 'EndpointSlice', 'workers-b', ns);
    await remove(info, DISCOVERY, 'EndpointSlice', 'workers-c', ns);
    await waitFor('only 10.0.0.2 left', () => ids(source.current()).join() === '10.0.0.2:8080', 15_000);
    await remove(info, DISCOVERY, 'EndpointSlice', 'workers-a', ns);
    await waitFor('no endpoint left', () => source.current().length === 0, 15_000);
  });

  it('chooses the port by number too', async () => {
    await apply(testCluster(), slice(ns, 'metrics-a', 'metrics', [{ address: '10.0.1.1' }]));
    const source = endpointSliceSource({ kubeConfig: testKubeConfig(), namespace: ns, service: 'metrics', port: 9090 });
    sources.push(source);
    await source.synced;
    expect(ids(source.current())).toEqual(['10.0.1.1:9090']);
  });

  it('recovers after failing to list: a router started before its Role is granted', async () => {
    const info = testCluster();
    await apply(info, slice(ns, 'late-a', 'late', [{ address: '10.0.2.1' }]));
    // The admin's credentials, impersonating a user with no rights yet (the apiserver answers 403).
    const admin = testKubeConfig();
    const user = `router-${ns}`;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: admin.clusters, contexts: admin.contexts, currentContext: admin.currentContext,
      users: admin.users.map((u) => ({ ...u, impersonateUser: user })),
    });
    const source = endpointSliceSource({ kubeConfig: kc, namespace: ns, service: 'late', port: 'http', backoff: { initialMs: 200, maxMs: 1000 } });
    sources.push(source);
    await new Promise((r) => setTimeout(r, 1000));
    expect(source.current()).toEqual([]);
    await apply(info, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'router', namespace: ns }, rules: [{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] }] } as KubeObject);
    await apply(info, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'router', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'router' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] } as KubeObject);
    await source.synced;
    expect(ids(source.current())).toEqual(['10.0.2.1:8080']);
    // And the restarted watch follows later changes.
    await apply(info, slice(ns, 'late-a', 'late', [{ address: '10.0.2.1' }, { address: '10.0.2.2' }]));
    await waitFor('the second endpoint', () => source.current().length === 2, 15_000);
  });
});

describe('peersFromService', () => {
  it('polls the router replicas listed in its own Service\'s EndpointSlices, skipping itself', async () => {
    const info = testCluster();
    // Two replicas' admin ports: HTTP servers on loopback addresses of their own. The API refuses
    // loopback IPs in IPv4 slices, so the slice lists them as FQDN endpoints (the name is the address).
    const servers = await Promise.all([['127.0.0.2', { inFlight: 1, held: 2 }], ['127.0.0.3', { inFlight: 100, held: 100 }]].map(async ([host, load]) => {
      const s = createServer((req, res) => { res.writeHead(req.url === PEER_LOAD_PATH ? 200 : 404).end(JSON.stringify(load)); });
      await new Promise<void>((r) => s.listen(ADMIN_PORT, host as string, r));
      return s;
    }));
    try {
      await apply(info, {
        apiVersion: DISCOVERY, kind: 'EndpointSlice',
        metadata: { name: 'router-peers-a', namespace: ns, labels: { 'kubernetes.io/service-name': 'router-peers', 'endpointslice.kubernetes.io/managed-by': 'qwen-test' } },
        addressType: 'FQDN', ports: [{ name: 'admin', port: ADMIN_PORT, protocol: 'TCP' }],
        endpoints: [{ addresses: ['127.0.0.2'], conditions: { ready: true } }, { addresses: ['127.0.0.3'], conditions: { ready: true } }],
      } as KubeObject);
      // This replica is 127.0.0.3: its own load is the scaler's LoadCounter, never polled.
      const peers = peersFromService({ kubeConfig: testKubeConfig(), namespace: ns, service: 'router-peers', adminPort: 'admin', selfAddress: '127.0.0.3' });
      sources.push(peers);
      await waitFor('the peer\'s load', async () => { await peers.refresh(); return peers.total().held === 2; }, 15_000);
      expect(peers.total()).toEqual({ inFlight: 1, held: 2 });
    } finally {
      for (const s of servers) s.close();
    }
  });
});

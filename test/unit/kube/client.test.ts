// The client's connection rules against a local HTTP server standing in for the apiserver (no
// cluster in unit tests; plain http is what `kubectl proxy` serves): watches never hold a socket a
// request needs, and every write leaves with a deadline, enforced here and sent to the server.
// On the real apiserver: test/integration/operator/leader.test.ts (six watched namespaces).
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient, WRITE_DEADLINE_MS } from '../../../src/kube/client.ts';
import { FileKubeAuth } from '../../../src/kube/kubeconfig.ts';

type Seen = { watches: number; writes: URL[] };

/** Watches are held open and silent, writes never answered; discovery and reads answer at once. */
function fakeApiserver(seen: Seen): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      seen.watches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      return;
    }
    if (req.method !== 'GET') {
      seen.writes.push(url);
      req.resume();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (url.pathname === '/api/v1') res.end(JSON.stringify({ resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true, verbs: [] }] }));
    else res.end(JSON.stringify({ items: [], metadata: { resourceVersion: '1' } }));
  };
}

let server: Server;
let client: KubeClient;
let seen: Seen;
const stops: AbortController[] = [];

beforeEach(async () => {
  seen = { watches: 0, writes: [] };
  server = createServer(fakeApiserver(seen));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = new KubeClient(new FileKubeAuth({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
});

afterEach(async () => {
  for (const s of stops.splice(0)) s.abort();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'ns' }, data: { a: 'b' } };

describe('KubeClient connections', () => {
  it('answers a request while more watches are open than any socket pool held (13 per namespace, 8 namespaces)', async () => {
    const watches = 13 * 8;
    await client.request('GET', '/api/v1');
    for (let i = 0; i < watches; i++) {
      const stop = new AbortController();
      stops.push(stop);
      void client.watch(`/api/v1/namespaces/ns-${i}/configmaps`, {}, () => {}, { idleMs: 600_000, signal: stop.signal });
    }
    for (let i = 0; i < 200 && seen.watches < watches; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen.watches).toBe(watches);
    const answer = await client.request<{ items: unknown[] }>('GET', '/apis/coordination.k8s.io/v1/namespaces/ns/leases', { signal: AbortSignal.timeout(5_000) });
    expect(answer.items).toEqual([]);
  });

  it('gives a write what the gate says is left of the lease as its deadline, here and as the server\'s timeout', async () => {
    client.writeGate = () => 300;
    await expect(client.apply(configMap, 'test')).rejects.toThrow(/deadline exceeded/);
    expect(seen.writes.map((u) => u.searchParams.get('timeout'))).toEqual(['300ms']);
  });

  it('gives every other write the default deadline', async () => {
    client.writeGate = () => undefined;
    const stop = new AbortController();
    const write = client.create(configMap, 'test', { signal: stop.signal });
    for (let i = 0; i < 200 && seen.writes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    await expect(write).rejects.toThrow(/aborted/);
    expect(seen.writes.map((u) => u.searchParams.get('timeout'))).toEqual([`${WRITE_DEADLINE_MS}ms`]);
  });

  it('sends no write the gate refuses', async () => {
    client.writeGate = () => { throw new Error('not the leader'); };
    await expect(client.delete(configMap)).rejects.toThrow('not the leader');
    expect(seen.writes).toEqual([]);
  });
});

// The peers' loads as the external scaler sums them: the pure sum (stale answers), then real HTTP
// servers on loopback standing for the other router replicas (each on its own 127.0.0.x, so this
// replica's own address can be told apart and skipped).
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PEER_LOAD_PATH } from '../src/contract.ts';
import { staticEndpoints } from '../src/endpoints.ts';
import type { Load } from '../src/load.ts';
import { pollPeerLoads, sumPeerLoads, type PeerLoads } from '../src/peers.ts';

describe('sumPeerLoads', () => {
  it('sums fresh answers and counts a peer silent for longer than staleMs as 0', () => {
    const peers = [
      { load: { inFlight: 2, held: 1 }, answeredAt: 1000 },
      { load: { inFlight: 3, held: 0 }, answeredAt: 500 },
      { load: { inFlight: 7, held: 7 }, answeredAt: 100 },
    ];
    expect(sumPeerLoads(peers, 1000, 600)).toEqual({ inFlight: 5, held: 1 });
    expect(sumPeerLoads(peers, 1200, 600)).toEqual({ inFlight: 2, held: 1 });
    expect(sumPeerLoads([], 0, 600)).toEqual({ inFlight: 0, held: 0 });
  });
});

type Peer = { server: Server; url: string; load: Load | string };
async function peer(host: string, load: Load | string): Promise<Peer> {
  const p = { load } as Peer;
  p.server = createServer((req, res) => {
    if (req.url !== PEER_LOAD_PATH) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(typeof p.load === 'string' ? p.load : JSON.stringify(p.load));
  });
  await new Promise<void>((r) => p.server.listen(0, host, r));
  p.url = `http://${host}:${(p.server.address() as AddressInfo).port}`;
  return p;
}

const until = async (what: string, fn: () => boolean, timeoutMs = 10_000) => {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('pollPeerLoads', () => {
  const open: { close(): void }[] = [];
  afterEach(() => { for (const o of open.splice(0)) o.close(); });

  it('sums the other replicas, skips itself, keeps a silent peer for staleMs then drops it, notifies on change', async () => {
    const a = await peer('127.0.0.1', { inFlight: 2, held: 1 });
    const b = await peer('127.0.0.2', { inFlight: 1, held: 3 });
    // This replica: its answer must not be counted (the scaler counts its own LoadCounter).
    const self = await peer('127.0.0.3', { inFlight: 100, held: 100 });
    for (const p of [a, b, self]) open.push({ close: () => p.server.close() });
    const peers: PeerLoads = pollPeerLoads({ source: staticEndpoints([a.url, b.url, self.url]), selfAddress: '127.0.0.3', pollMs: 100, staleMs: 1000 });
    open.push(peers);
    let changes = 0;
    peers.subscribe(() => { changes++; });
    await peers.refresh();
    expect(peers.total()).toEqual({ inFlight: 3, held: 4 });

    a.load = { inFlight: 0, held: 5 };
    await peers.refresh();
    expect(peers.total()).toEqual({ inFlight: 1, held: 8 });
    const seen = changes;
    await peers.refresh();
    expect(changes).toBe(seen);

    // b stops answering: its last answer still counts for a while, then nothing.
    b.server.closeAllConnections();
    b.server.close();
    await peers.refresh();
    expect(peers.total()).toEqual({ inFlight: 1, held: 8 });
    await until('b dropped', () => peers.total().held === 5);
    expect(peers.total()).toEqual({ inFlight: 0, held: 5 });
  });

  it('treats an answer of the wrong shape as no answer', async () => {
    const a = await peer('127.0.0.1', '{"inFlight": -1, "held": "x"}');
    open.push({ close: () => a.server.close() });
    const peers = pollPeerLoads({ source: staticEndpoints([a.url]), pollMs: 100, staleMs: 1000 });
    open.push(peers);
    await peers.refresh();
    expect(peers.total()).toEqual({ inFlight: 0, held: 0 });
    a.load = { inFlight: 1, held: 0 };
    await peers.refresh();
    expect(peers.total()).toEqual({ inFlight: 1, held: 0 });
  });
});

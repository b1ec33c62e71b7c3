// The external scaler as KEDA calls it: a real grpc-js client built from the same proto, against the
// scaler serving a real LoadCounter and the polled load of a peer replica (an HTTP server on loopback
// answering PEER_LOAD_PATH, as another router replica does).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PEER_LOAD_PATH, SCALER_METRIC_NAME } from '../src/contract.ts';
import { staticEndpoints } from '../src/endpoints.ts';
import { LoadCounter, type Load } from '../src/load.ts';
import { pollPeerLoads, type PeerLoads } from '../src/peers.ts';
import { DEFAULT_TARGET_IN_FLIGHT, externalScalerService, startScaler, type RunningScaler } from '../src/scaler.ts';

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
const ref = (scalerMetadata: Record<string, string> = {}) => ({ name: 'qws', namespace: 'ns', scalerMetadata });

let scaler: RunningScaler;
let client: Client;
let peerServer: Server;
let peers: PeerLoads;
const load = new LoadCounter();
let peerLoad: Load = { inFlight: 0, held: 0 };

function unary<T>(method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    (client[method] as (r: unknown, cb: (e: grpc.ServiceError | null, v: T) => void) => void).call(client, request, (e, v) => (e ? reject(e) : resolve(v)));
  });
}

beforeAll(async () => {
  peerServer = createServer((req, res) => {
    res.writeHead(req.url === PEER_LOAD_PATH ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(peerLoad));
  });
  await new Promise<void>((r) => peerServer.listen(0, '127.0.0.2', r));
  peers = pollPeerLoads({ source: staticEndpoints([`http://127.0.0.2:${(peerServer.address() as AddressInfo).port}`]), pollMs: 200 });
  scaler = await startScaler({ port: 0, host: '127.0.0.1', load, peers });
  const Scaler = externalScalerService();
  client = new Scaler(`127.0.0.1:${scaler.port}`, grpc.credentials.createInsecure()) as unknown as Client;
});

afterAll(async () => {
  client?.close();
  await scaler?.close();
  peers?.close();
  peerServer?.close();
});

describe('the external scaler', () => {
  it('IsActive: false with nothing in flight or held, true once a request is held', async () => {
    expect(await unary('IsActive', ref())).toEqual({ result: false });
    load.add('held', 1);
    expect(await unary('IsActive', ref())).toEqual({ result: true });
    load.add('held', -1);
    expect(await unary('IsActive', ref())).toEqual({ result: false });
  });

  it('StreamIsActive: the state at once, then a push on every change to or from active, local or at a peer', async () => {
    const stream = (client.StreamIsActive as (r: unknown) => grpc.ClientReadableStream<{ result: boolean }>).call(client, ref());
    const received: boolean[] = [];
    let wake: () => void = () => {};
    stream.on('data', (m: { result: boolean }) => { received.push(m.result); wake(); });
    stream.on('error', () => {});
    const next = (n: number) => new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no push: got ${JSON.stringify(received)}`)), 10_000);
      wake = () => { if (received.length >= n) { clearTimeout(t); resolve(); } };
      wake();
    });
    await next(1);
    expect(received).toEqual([false]);

    load.add('held', 1);
    await next(2);
    // More load while active changes nothing KEDA needs to hear.
    load.add('inFlight', 1);
    load.add('held', -1);
    load.add('inFlight', -1);
    await next(3);
    expect(received).toEqual([false, true, false]);

    // A request held at another replica: seen through the peers' poll.
    peerLoad = { inFlight: 0, held: 1 };
    await next(4);
    peerLoad = { inFlight: 0, held: 0 };
    await next(5);
    expect(received).toEqual([false, true, false, true, false]);
    stream.cancel();
  });

  it('GetMetricSpec: the per-worker target from the trigger metadata, a default without, a clear error when invalid', async () => {
    expect(await unary('GetMetricSpec', ref())).toEqual({ metricSpecs: [{ metricName: SCALER_METRIC_NAME, targetSize: DEFAULT_TARGET_IN_FLIGHT, targetSizeFloat: DEFAULT_TARGET_IN_FLIGHT }] });
    expect(await unary('GetMetricSpec', ref({ targetInFlight: '4' }))).toEqual({ metricSpecs: [{ metricName: SCALER_METRIC_NAME, targetSize: 4, targetSizeFloat: 4 }] });
    await expect(unary('GetMetricSpec', ref({ targetInFlight: 'lots' }))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('targetInFlight') });
  });

  it('GetMetrics: in flight + held here and at the peers', async () => {
    load.add('inFlight', 2);
    load.add('held', 1);
    peerLoad = { inFlight: 3, held: 4 };
    const r = await unary<{ metricValues: { metricName: string; metricValue: number; metricValueFloat: number }[] }>('GetMetrics', { scaledObjectRef: ref(), metricName: SCALER_METRIC_NAME });
    expect(r.metricValues).toEqual([{ metricName: SCALER_METRIC_NAME, metricValue: 10, metricValueFloat: 10 }]);
    await expect(unary('GetMetrics', { scaledObjectRef: ref(), metricName: 'other' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    load.add('inFlight', -2);
    load.add('held', -1);
    peerLoad = { inFlight: 0, held: 0 };
  });

  it('StreamMetricSpec: UNIMPLEMENTED, so KEDA keeps to GetMetricSpec', async () => {
    const stream = (client.StreamMetricSpec as (r: unknown) => grpc.ClientReadableStream<unknown>).call(client, ref());
    const err = await new Promise<grpc.ServiceError>((resolve) => { stream.on('error', resolve); stream.on('data', () => {}); });
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});

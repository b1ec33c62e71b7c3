// KEDA's external scaler (externalscaler.proto of KEDA v2.21.0), served by every router replica: the
// ScaledObject's `external-push` trigger points at the router Service's scaler port. The load is the
// requests in flight to a worker plus those held waiting for one, over all router replicas (this one's
// LoadCounter + the peers' polled loads), so a request held anywhere while the workers are at zero
// activates them through StreamIsActive at once, without waiting for KEDA's polling interval.
//
// Trigger metadata read here (the operator renders it): `targetInFlight`, the requests one worker is
// meant to carry (the HPA target, AverageValue); absent, 1 (one worker's sequences at the worker's
// default --parallel), the same default as spec.autoscaling.targetInFlightPerReplica.
//
// Plaintext gRPC: KEDA's `enableTLS` and client certificates are a follow-up (the NetworkPolicy is what
// limits who reaches the port meanwhile).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { SCALER_METRIC_NAME, SCALER_TARGET_KEY } from './contract.ts';
import type { Load, LoadCounter } from './load.ts';
import type { PeerLoads } from './peers.ts';

/** The trigger metadata key of the per-worker target. */
export const TARGET_IN_FLIGHT_KEY = SCALER_TARGET_KEY;
/** One worker's sequences at the worker's default `--parallel` (WORKER_DEFAULT.parallel of worker/src/contract.ts). */
export const DEFAULT_TARGET_IN_FLIGHT = 1;

const PROTO_PATH = fileURLToPath(new URL('../proto/externalscaler.proto', import.meta.url));

/** The ExternalScaler service (and its client constructor, for tests and tools). */
export function externalScalerService(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(definition).externalscaler as grpc.GrpcObject;
  return pkg.ExternalScaler as grpc.ServiceClientConstructor;
}

type ScaledObjectRef = { name: string; namespace: string; scalerMetadata: Record<string, string> };
type GetMetricsRequest = { scaledObjectRef: ScaledObjectRef | null; metricName: string };

/** The per-worker target from the trigger metadata; throws a message KEDA logs when it is not a positive number. */
export function targetInFlight(metadata: Record<string, string> | undefined): number {
  const raw = metadata?.[TARGET_IN_FLIGHT_KEY];
  if (raw === undefined || raw === '') return DEFAULT_TARGET_IN_FLIGHT;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`trigger metadata ${TARGET_IN_FLIGHT_KEY}="${raw}": must be a positive number of requests per worker`);
  return n;
}

/** What KEDA scales on: requests in flight plus held, over all replicas. */
export function totalRequests(own: Load, peers: Load): number {
  return own.inFlight + own.held + peers.inFlight + peers.held;
}

export type ScalerOptions = {
  port: number;
  host?: string;
  load: LoadCounter;
  /** The other router replicas; absent with one replica (or in tests). */
  peers?: PeerLoads;
  log?: Logger;
  /**
   * StreamIsActive re-sends the current state this often. KEDA drops an activation it cannot yet map to
   * the ScaledObject's metric (status not filled in yet, just after it was created), so `true` is said
   * again; `false` it ignores (scale-in goes through its polling: IsActive every pollingInterval, then
   * cooldownPeriod), so repeating it costs nothing.
   */
  heartbeatMs?: number;
};

export type RunningScaler = { port: number; close(): Promise<void> };

const NO_PEERS = { inFlight: 0, held: 0 };

/** Serves the external scaler on host:port (port 0: any free port, see `port`). */
export async function startScaler(opts: ScalerOptions): Promise<RunningScaler> {
  const { load, peers, log } = opts;
  const heartbeatMs = opts.heartbeatMs ?? 10_000;
  const total = () => totalRequests(load.current(), peers?.total() ?? NO_PEERS);
  // Unary answers wait for one fresh poll of the peers (bounded by the poll's own timeout).
  const fresh = async () => { await peers?.refresh(); return total(); };
  const streams = new Set<grpc.ServerWritableStream<ScaledObjectRef, unknown>>();
  const invalid = (err: unknown) => ({ code: grpc.status.INVALID_ARGUMENT, details: err instanceof Error ? err.message : String(err) });

  const handlers: grpc.UntypedServiceImplementation = {
    IsActive(call: grpc.ServerUnaryCall<ScaledObjectRef, unknown>, callback: grpc.sendUnaryData<unknown>) {
      fresh().then((n) => callback(null, { result: n > 0 }), (err: unknown) => callback({ code: grpc.status.INTERNAL, details: String(err) }));
    },

    StreamIsActive(call: grpc.ServerWritableStream<ScaledObjectRef, unknown>) {
      const ref = call.request;
      let sent: boolean | undefined;
      const send = (force: boolean) => {
        const active = total() > 0;
        if (!force && active === sent) return;
        sent = active;
        call.write({ result: active });
        log?.info({ scaledObject: `${ref.namespace}/${ref.name}`, active }, 'StreamIsActive');
      };
      send(true);
      const offLoad = load.subscribe(() => send(false));
      const offPeers = peers?.subscribe(() => send(false));
      const heartbeat = setInterval(() => send(true), heartbeatMs);
      streams.add(call);
      const done = () => {
        clearInterval(heartbeat);
        offLoad();
        offPeers?.();
        streams.delete(call);
      };
      call.on('cancelled', done);
      call.on('error', done);
      call.on('close', done);
    },

    GetMetricSpec(call: grpc.ServerUnaryCall<ScaledObjectRef, unknown>, callback: grpc.sendUnaryData<unknown>) {
      let target: number;
      try { target = targetInFlight(call.request.scalerMetadata); } catch (err) { callback(invalid(err)); return; }
      callback(null, { metricSpecs: [{ metricName: SCALER_METRIC_NAME, targetSize: Math.ceil(target), targetSizeFloat: target }] });
    },

    GetMetrics(call: grpc.ServerUnaryCall<GetMetricsRequest, unknown>, callback: grpc.sendUnaryData<unknown>) {
      const name = call.request.metricName;
      if (name !== SCALER_METRIC_NAME) {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown metric "${name}": this scaler serves "${SCALER_METRIC_NAME}"` });
        return;
      }
      fresh().then(
        (n) => callback(null, { metricValues: [{ metricName: SCALER_METRIC_NAME, metricValue: n, metricValueFloat: n }] }),
        (err: unknown) => callback({ code: grpc.status.INTERNAL, details: String(err) }),
      );
    },

    // Optional in the proto: UNIMPLEMENTED makes KEDA keep to GetMetricSpec (the target never changes while the ScaledObject does not).
    StreamMetricSpec(call: grpc.ServerWritableStream<ScaledObjectRef, unknown>) {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'StreamMetricSpec is not implemented: use GetMetricSpec' });
    },
  };

  const server = new grpc.Server();
  server.addService(externalScalerService().service, handlers);
  const host = opts.host ?? '0.0.0.0';
  const address = `${host.includes(':') ? `[${host}]` : host}:${opts.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  log?.info({ address: `${host}:${port}` }, 'external scaler listening');

  return {
    port,
    close: () => new Promise<void>((resolve) => {
      // StreamIsActive never ends by itself: end the streams, or a graceful shutdown would wait forever.
      for (const s of streams) s.end();
      const force = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
      server.tryShutdown(() => { clearTimeout(force); resolve(); });
    }),
  };
}

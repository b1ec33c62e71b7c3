// One router: endpoints → ready set → balancer and hold queue; the API and admin servers; drain.
// main.ts builds the endpoint source from the flags and calls startRouter; tests call it in process.
import type { Logger } from 'pino';
import { AdminServer } from './admin.ts';
import { ApiServer } from './api.ts';
import { ApiKeys } from './auth.ts';
import { Balancer } from './choice.ts';
import type { RouterConfig } from './config.ts';
import type { EndpointSource } from './endpoints.ts';
import { HoldQueue } from './hold-queue.ts';
import { LoadCounter } from './load.ts';
import { createMetrics } from './metrics.ts';
import { ReadyEndpoints } from './ready-endpoints.ts';
import { TenantPolicy } from './tenants/policy.ts';

export type Router = {
  ports: { port: number; adminPort: number };
  load: LoadCounter;
  metrics: ReturnType<typeof createMetrics>;
  /** The tenants' policy (--tenants); absent without it. */
  tenants: TenantPolicy | undefined;
  /** SIGTERM: /readyz 503, stop accepting, finish within --drain-timeout, close. */
  drain: () => Promise<void>;
};

export async function startRouter(config: RouterConfig, source: EndpointSource, log: Logger, opts: { probeIntervalMs?: number } = {}): Promise<Router> {
  const load = new LoadCounter();
  const balancer = new Balancer({ epsilon: config.affinityEpsilon });
  const hold = new HoldQueue({ maxHeld: config.maxHeld, load });
  const tenants = config.tenants.size === 0 ? undefined : new TenantPolicy({
    tenants: config.tenants, replicas: config.replicas, ttftObjectiveS: config.ttftObjectiveS, workerParallel: config.workerParallel, readyWorkers: () => balancer.size,
  });
  const metrics = createMetrics({ model: config.modelName, sloBuckets: config.sloBuckets, load, readyEndpoints: () => balancer.size, tenants: tenants?.names });
  const ready = new ReadyEndpoints(source, {
    log, probeIntervalMs: opts.probeIntervalMs,
    onChange: (endpoints) => {
      balancer.setEndpoints(endpoints);
      log.info({ endpoints: endpoints.map((e) => e.id) }, 'ready endpoints');
      if (endpoints.length > 0) hold.release();
      tenants?.pump();
    },
  });
  balancer.setEndpoints(ready.current());
  const apiKeys = config.apiKeyFile === undefined ? undefined : new ApiKeys(config.apiKeyFile, { log });
  const api = new ApiServer({
    host: config.host, port: config.port, balancer, ready, hold, load, metrics, log, apiKeys,
    affinity: config.affinity, holdTimeoutS: config.holdTimeoutS, maxBodyBytes: config.maxBodyBytes, tenants,
  });
  const admin = new AdminServer({ host: config.host, port: config.adminPort, registry: metrics.registry, load });
  const port = await api.listen();
  const adminPort = await admin.listen();
  log.info({ port, adminPort, endpoints: ready.current().map((e) => e.id), affinity: config.affinity, apiKeys: apiKeys ? apiKeys.count : 'none (open)', tenants: tenants?.names }, 'listening');
  let drained: Promise<void> | undefined;
  return {
    ports: { port, adminPort }, load, metrics, tenants,
    drain: () => drained ??= (async () => {
      admin.setDraining();
      log.info({ ...load.current(), graceS: config.drainTimeoutS }, 'draining');
      await api.drain(config.drainTimeoutS);
      ready.close();
      source.close();
      await admin.close();
      log.info('drained');
    })(),
  };
}

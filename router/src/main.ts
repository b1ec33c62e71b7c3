// `qwen-router` entry point: flags → logger → the workers' endpoint source → router (API and admin
// ports) → KEDA's external scaler → signals (SIGTERM drains, then exit 0).
import { readFileSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { ConfigError, parseConfig, USAGE } from './config.ts';
import type { RouterConfig } from './config.ts';
import { ROUTER_FLAG } from './contract.ts';
import { staticEndpoints, type EndpointSource } from './endpoints.ts';
import type { LoadCounter } from './load.ts';
import { startRouter } from './router.ts';
import { endpointSliceSource, loadKubeConfig } from './endpoint-slices.ts';
import { peersFromService } from './peers.ts';
import { startScaler as startScalerServer } from './scaler.ts';

/** The workers: a static list (tests, benchmarks) or the ready endpoints of their Service's EndpointSlices. */
function workerEndpoints(config: RouterConfig, log: Logger): EndpointSource {
  if (config.upstreams) return staticEndpoints(config.upstreams);
  return endpointSliceSource({ kubeConfig: loadKubeConfig(), namespace: namespaceOf(config), service: config.workersService!, port: portRef(config.workersPort!), log });
}

/** KEDA's external scaler on --scaler-port, counting the peers of --peers-service too; returns its stop. */
async function startScaler(config: RouterConfig, load: LoadCounter, log: Logger): Promise<(() => Promise<void>) | undefined> {
  if (config.scalerPort === undefined) return undefined;
  const peers = config.peersService
    ? peersFromService({ kubeConfig: loadKubeConfig(), namespace: namespaceOf(config), service: config.peersService, adminPort: config.adminPort, log })
    : undefined;
  const scaler = await startScalerServer({ port: config.scalerPort, host: config.host, load, peers, log });
  return async () => { await scaler.close(); peers?.close(); };
}

/** --namespace, else the pod's own (the service account's namespace file), as client-node reads it in a cluster. */
function namespaceOf(config: RouterConfig): string {
  if (config.namespace) return config.namespace;
  try { return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim(); } catch {
    throw new ConfigError(`--${ROUTER_FLAG.namespace} is needed outside a cluster`);
  }
}

const portRef = (p: string): string | number => (/^\d+$/.test(p) ? Number(p) : p);

async function main(): Promise<void> {
  let config: RouterConfig;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (e) {
    const msg = (e as Error).message;
    if (msg === USAGE) { process.stdout.write(`${USAGE}\n`); process.exit(0); }
    process.stderr.write(`qwen-router: ${msg}\n\nRun qwen-router --help for the flags.\n`);
    process.exit(2);
  }
  const log = pino({ level: config.logLevel, base: { component: 'qwen-router' } });
  let drain: (() => Promise<void>) | undefined;
  let stopScaler: (() => Promise<void>) | undefined;
  const onSignal = (signal: string) => {
    log.info({ signal }, 'signal received');
    if (!drain) process.exit(0);
    void drain().then(async () => { await stopScaler?.(); process.exit(0); });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    const router = await startRouter(config, workerEndpoints(config, log), log);
    drain = router.drain;
    stopScaler = await startScaler(config, router.load, log);
  } catch (e) {
    const err = e as Error;
    log.fatal({ err: e instanceof ConfigError ? undefined : err }, `startup failed: ${err.message}`);
    process.stderr.write(`qwen-router: ${err.message}\n`);
    process.exit(e instanceof ConfigError ? 2 : 1);
  }
}

if (import.meta.main) await main();

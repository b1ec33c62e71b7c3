// `qwen-router` entry point: flags → logger → the workers' endpoint source → router (API and admin
// ports) → KEDA's external scaler → signals (SIGTERM drains, then exit 0).
import { pino } from 'pino';
import { ConfigError, parseConfig, USAGE } from './config.ts';
import type { RouterConfig } from './config.ts';
import { ROUTER_FLAG } from './contract.ts';
import { staticEndpoints, type EndpointSource } from './endpoints.ts';
import type { LoadCounter } from './load.ts';
import { startRouter } from './router.ts';

// ─── Integration point for endpoint-slices.ts, scaler.ts and peers.ts ───────────────────────────
// The two functions below are where the EndpointSlice source (--workers-service, --workers-port,
// --namespace) and KEDA's external scaler (--scaler-port, --peers-service) are wired in. Until
// those modules are imported here, their flags stop the start with a clear error.

function workerEndpoints(config: RouterConfig): EndpointSource {
  if (config.upstreams) return staticEndpoints(config.upstreams);
  throw new ConfigError(`--${ROUTER_FLAG.workersService} is not available in this build (the EndpointSlice source is not wired in): use --${ROUTER_FLAG.upstreams}`);
}

/** Starts the external scaler on --scaler-port; returns its stop. */
async function startScaler(config: RouterConfig, _load: LoadCounter): Promise<(() => Promise<void>) | undefined> {
  if (config.scalerPort === undefined) return undefined;
  throw new ConfigError(`--${ROUTER_FLAG.scalerPort} is not available in this build (the external scaler is not wired in)`);
}
// ────────────────────────────────────────────────────────────────────────────────────────────────

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
    const router = await startRouter(config, workerEndpoints(config), log);
    drain = router.drain;
    stopScaler = await startScaler(config, router.load);
  } catch (e) {
    const err = e as Error;
    log.fatal({ err: e instanceof ConfigError ? undefined : err }, `startup failed: ${err.message}`);
    process.stderr.write(`qwen-router: ${err.message}\n`);
    process.exit(e instanceof ConfigError ? 2 : 1);
  }
}

if (import.meta.main) await main();

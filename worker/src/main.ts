// `qwen-worker` entry point: flags → logger, metrics, HTTP server (alive at once, ready after the
// model loaded and produced a warm-up token) → model provisioning → engine → signals.
// First: sizes libuv's pool before anything uses it (see threadpool.ts).
import { overriddenThreadpoolSize } from './threadpool.ts';
import { statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { pino } from 'pino';
import { ApiKeyError, ApiKeys } from './auth.ts';
import { parseConfig, USAGE } from './config.ts';
import type { WorkerConfig } from './config.ts';
import { resolveThreads } from './cpus.ts';
import { Engine } from './engine.ts';
import { createMetrics } from './metrics.ts';
import { modelFactsOf, registerModelFacts } from './model-facts.ts';
import { TokenizerThread } from './tokenizer-thread.ts';
import { ModelError, parseModelSpec, provisionModel, redactModelSpec } from './model-source.ts';
import { WorkerServer } from './server.ts';

export function defaultModelName(spec: string): string {
  const parsed = parseModelSpec(spec);
  const file = parsed.kind === 'file' ? basename(parsed.path) : parsed.fileName;
  return file.replace(/\.gguf$/i, '');
}

export async function startWorker(config: WorkerConfig) {
  const log = pino({ level: config.logLevel, base: { component: 'qwen-worker' } });
  const modelName = config.modelName ?? defaultModelName(config.model);
  const metrics = createMetrics({ model: modelName, sloBuckets: config.sloBuckets });
  const { threads, clamped } = resolveThreads(config.threads);
  if (clamped) log.warn({ requested: config.threads, threads }, '--threads exceeds the CPUs this process may use; clamped');
  if (overriddenThreadpoolSize !== undefined) {
    log.warn({ requested: overriddenThreadpoolSize, used: 1 }, 'UV_THREADPOOL_SIZE overridden: concurrent sampling on several pool threads mixes up sequences in node-llama-cpp 3.21.1');
  }
  metrics.parallel.set(config.parallel);
  // An unreadable or empty key file stops the start: the worker never runs open by accident.
  const apiKeys = config.apiKeyFile === undefined ? undefined : new ApiKeys(config.apiKeyFile, { log, onFault: () => metrics.apiKeyFileErrors.inc() });
  const server = new WorkerServer({
    host: config.host, port: config.port, metricsPort: config.metricsPort, modelName,
    requestTimeoutS: config.requestTimeoutS, drainTimeoutS: config.drainTimeoutS, maxBodyBytes: config.maxBodyBytes,
    metrics, log, apiKeys,
    headersTimeoutS: config.headersTimeoutS, bodyTimeoutS: config.bodyTimeoutS,
    keepAliveTimeoutS: config.keepAliveTimeoutS, maxHeaderBytes: config.maxHeaderBytes,
  });
  const ports = await server.listen();
  log.info({
    ...ports, host: config.host, model: redactModelSpec(config.model), modelName, parallel: config.parallel, threads,
    apiKeys: apiKeys ? apiKeys.count : 'none (open)',
  }, 'listening; loading model');
  const t0 = performance.now();
  const modelPath = await provisionModel(config.model, {
    cacheDir: config.cacheDir, sha256: config.modelSha256, stallTimeoutS: config.downloadStallTimeoutS, log,
    allowHttp: config.allowHttpDownload,
  });
  const engine = await Engine.load({
    modelPath, parallel: config.parallel, queueSize: config.queueSize, contextSize: config.contextSize, threads, gpu: config.gpu, promptLookup: config.promptLookup,
    promptCache: {
      dir: config.promptCacheDir, maxBytes: config.promptCacheBytes, events: metrics.hostCacheEvents,
      onError: (err, what) => log.warn({ err }, what),
    },
  });
  if (engine.batchOrderMismatch) {
    log.warn({ reason: engine.batchOrderMismatch }, 'node-llama-cpp internals changed shape: decode batches keep the library\'s order (slower at concurrent requests)');
  }
  // What the model's header says, for the operator to size pvc:// and file:// sources it cannot read.
  registerModelFacts(metrics.registry, modelName, basename(modelPath), modelFactsOf(engine.model.fileInfo, statSync(modelPath).size));
  engine.onLoad = (running, waiting) => { metrics.running.set(running); metrics.waiting.set(waiting); };
  metrics.setKvCacheUsageSource(() => engine.kvCacheUsage);
  // Prompts are tokenized off the event loop; without the thread (it failed to start), here.
  try {
    engine.tokenizerThread = await TokenizerThread.start(modelPath);
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'tokenizer thread failed to start; prompts are tokenized on the main thread');
  }
  engine.onTokenizerThreadGone = (e) => log.error({ err: e.message }, 'tokenizer thread gone; prompts are tokenized on the main thread from now on');
  if (engine.gpuType) {
    const llama = engine.llama;
    metrics.setGpuMemorySource(async () => (await llama.getVramState()).used);
  }
  // Warm-up: one generated token proves the model runs (and pages the weights in).
  const seq = await engine.acquire(new AbortController().signal);
  try {
    await engine.generate(seq, { tokens: engine.tokenizeCompletion('Hello'), maxTokens: 1, temperature: 0, topP: undefined, seed: 0, stop: [], signal: new AbortController().signal });
  } finally {
    engine.release(seq);
  }
  const loadS = (performance.now() - t0) / 1000;
  metrics.loadDuration.set(loadS);
  server.setReady(engine);
  log.info({
    modelPath, loadS: Number(loadS.toFixed(3)), gpu: engine.gpuType, threads: engine.context.currentThreads,
    contextSizePerSequence: engine.sequenceContextSize,
    promptCache: config.promptCacheBytes > 0 ? { dir: config.promptCacheDir, maxBytes: config.promptCacheBytes } : 'off',
    promptLookup: config.promptLookup,
  }, 'ready');
  return { server, engine, log, ports };
}

/**
 * Kubernetes shows this file's text as the container's termination message, which the operator
 * reads into `ModelLoadFailed` (a stalled download, a SHA-256 mismatch, a corrupt GGUF).
 */
function writeTerminationMessage(message: string): void {
  const path = process.env.QWEN_TERMINATION_LOG ?? '/dev/termination-log';
  try {
    writeFileSync(path, message.slice(0, 4000));
  } catch {
    // Not in a pod (no such file): stderr already has it.
  }
}

async function main(): Promise<void> {
  let config: WorkerConfig;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (e) {
    const msg = (e as Error).message;
    if (msg === USAGE) { process.stdout.write(`${USAGE}\n`); process.exit(0); }
    process.stderr.write(`qwen-worker: ${msg}\n\n${USAGE}\n`);
    process.exit(2);
  }
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  const fatalLog = pino({ base: { component: 'qwen-worker' } });
  const onSignal = (sig: string) => {
    fatalLog.info({ signal: sig }, 'signal received');
    if (!worker) process.exit(0);
    void worker.server.drain().then(async () => {
      await worker!.engine.dispose().catch(() => undefined);
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    worker = await startWorker(config);
  } catch (e) {
    const err = e as Error;
    fatalLog.fatal({ err: e instanceof ModelError || e instanceof ApiKeyError ? undefined : err }, `startup failed: ${err.message}`);
    process.stderr.write(`qwen-worker: ${err.message}\n`);
    writeTerminationMessage(err.message);
    process.exit(1);
  }
}

if (import.meta.main) await main();

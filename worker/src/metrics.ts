// Prometheus metrics, OTel GenAI names in Prometheus form: names, labels, error types and default
// buckets are the operator's contract (contract.ts). Labels are bounded: `model` is the configured
// model name, `error_type` one of ERROR_TYPES.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DEFAULT_DURATION_BUCKETS, DEFAULT_TPOT_BUCKETS, DEFAULT_TTFT_BUCKETS, ERROR_TYPES, LABEL, METRIC, PROMPT_CACHE_WHERE, type ErrorType } from './contract.ts';

export { DEFAULT_DURATION_BUCKETS, DEFAULT_TPOT_BUCKETS, DEFAULT_TTFT_BUCKETS, ERROR_TYPES, type ErrorType } from './contract.ts';

export function mergeBuckets(defaults: readonly number[], extra: readonly number[]): number[] {
  return [...new Set([...defaults, ...extra])].sort((a, b) => a - b);
}

export type WorkerMetrics = ReturnType<typeof createMetrics>;

/**
 * The event loop's delay since the previous scrape, under prom-client's default names
 * (nodejs_eventloop_lag_*_seconds; sampled every 10 ms by perf_hooks): what a request, a token of
 * another sequence or /healthz waited for the main thread.
 */
function eventLoopLag(registry: Registry): void {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const stats = {
    min: () => delay.min, max: () => delay.max, mean: () => delay.mean, stddev: () => delay.stddev,
    p50: () => delay.percentile(50), p90: () => delay.percentile(90), p99: () => delay.percentile(99),
  };
  // Registered first, so its collect sets every gauge below from one snapshot before they are
  // written out, then starts the next window.
  new Gauge({
    name: 'nodejs_eventloop_lag_samples', help: 'Event loop delay samples recorded since the previous scrape.', registers: [registry],
    collect() {
      this.set(delay.count);
      for (const [g, read] of gauges) g.set(delay.count > 0 ? read() / 1e9 : 0);
      delay.reset();
    },
  });
  const gauges = Object.entries(stats).map(([stat, read]) => [new Gauge({
    name: `nodejs_eventloop_lag_${stat}_seconds`, help: `The ${stat} of the event loop delays recorded since the previous scrape.`, registers: [registry],
  }), read] as const);
}

export function createMetrics(opts: { model: string; sloBuckets: readonly number[]; defaultMetrics?: boolean }) {
  const registry = new Registry();
  // A few process metrics, read at scrape time. (prom-client's default set is not used: three of
  // its gauges end in _total, which `promtool check metrics` rejects, and it is slower to scrape.)
  if (opts.defaultMetrics !== false) {
    new Gauge({
      name: METRIC.residentMemory, help: 'Resident memory size in bytes.', registers: [registry],
      collect() { this.set(process.memoryUsage.rss()); },
    });
    new Gauge({
      name: METRIC.heapUsed, help: 'V8 heap in use in bytes.', registers: [registry],
      collect() { this.set(process.memoryUsage().heapUsed); },
    });
    new Gauge({
      name: METRIC.startTime, help: 'Start time of the process since the Unix epoch in seconds.', registers: [registry],
    }).set(Math.round(Date.now() / 1000 - process.uptime()));
    let lastCpu = 0;
    new Counter({
      name: METRIC.cpuSeconds, help: 'Total user and system CPU time spent in seconds.', registers: [registry],
      collect() {
        const u = process.cpuUsage();
        const now = (u.user + u.system) / 1e6;
        if (now > lastCpu) { this.inc(now - lastCpu); lastCpu = now; }
      },
    });
    eventLoopLag(registry);
  }
  const apiKeyFileErrors = new Counter({
    name: 'qwen_worker_api_key_file_errors_total', registers: [registry],
    help: 'Times the --api-key-file became unreadable (the last keys then stay valid for a grace period, see docs/security.md).',
  });
  const model = opts.model;
  // The gen_ai series are per model (the request duration adds error_type).
  const perModel = { labelNames: [LABEL.model] as const, registers: [registry] };
  const requestDuration = new Histogram({
    name: METRIC.requestDuration,
    help: 'Time from request arrival to the last byte of the response (queue wait included).',
    labelNames: [LABEL.model, LABEL.errorType] as const,
    buckets: mergeBuckets(DEFAULT_DURATION_BUCKETS, opts.sloBuckets),
    registers: [registry],
  });
  const ttft = new Histogram({
    name: METRIC.timeToFirstToken,
    help: 'Time from request arrival to the first generated token (queue wait and prompt evaluation included).',
    ...perModel,
    buckets: mergeBuckets(DEFAULT_TTFT_BUCKETS, opts.sloBuckets),
  });
  const tpot = new Histogram({
    name: METRIC.timePerOutputToken,
    help: 'Mean time between generated tokens after the first, one observation per request with 2+ tokens.',
    ...perModel,
    buckets: mergeBuckets(DEFAULT_TPOT_BUCKETS, opts.sloBuckets),
  });
  const promptTokens = new Counter({ ...perModel, name: METRIC.promptTokens, help: 'Prompt (input) tokens evaluated.' });
  const cachedTokens = new Counter({
    ...perModel, name: METRIC.cachedPromptTokens,
    help: 'Prompt tokens whose state was reused from an earlier request on the same sequence (not evaluated again).',
  });
  // Why a TTFT SLO burns: how often a prompt's prefix was found, where, and what the host cache holds.
  const byWhere = { labelNames: [LABEL.model, LABEL.where] as const, registers: [registry] };
  const cacheHits = new Counter({
    ...byWhere, name: METRIC.promptCacheHits,
    help: 'Requests that reused a prompt prefix of 64+ tokens, by where it was: "sequence" (kept by a context sequence) or "host" (restored from the host prompt cache).',
  });
  const cacheMisses = new Counter({ ...perModel, name: METRIC.promptCacheMisses, help: 'Requests that reused less than 64 prompt tokens.' });
  const cacheReused = new Counter({
    ...byWhere, name: METRIC.promptCacheReusedTokens,
    help: `Prompt tokens not evaluated again, by where their state was (as ${METRIC.promptCacheHits}; "miss" for short prefixes).`,
  });
  const hostBytes = new Gauge({ ...perModel, name: METRIC.promptCacheHostBytes, help: 'Bytes of saved sequence states in the host prompt cache (memory when on a tmpfs).' });
  const hostEntries = new Gauge({ ...perModel, name: METRIC.promptCacheHostEntries, help: 'Saved sequence states in the host prompt cache.' });
  const hostEvictions = new Counter({
    ...perModel, name: METRIC.promptCacheHostEvictions, help: 'Saved states dropped from the host prompt cache to stay within its size (least recently used first).',
  });
  const generatedTokens = new Counter({ ...perModel, name: METRIC.generatedTokens, help: 'Tokens generated (output).' });
  const drafted = new Counter({ ...perModel, name: METRIC.speculativeDraftedTokens, help: 'Tokens drafted by prompt-lookup decoding (copied from the prompt) and checked by the model.' });
  const accepted = new Counter({
    ...perModel, name: METRIC.speculativeAcceptedTokens, help: 'Drafted tokens the model accepted (its own greedy pick): each saved a decode step.',
  });
  const running = new Gauge({ ...perModel, name: METRIC.requestsRunning, help: 'Requests holding a context sequence.' });
  const waiting = new Gauge({ ...perModel, name: METRIC.requestsWaiting, help: 'Requests waiting in the queue for a context sequence.' });
  const loadDuration = new Gauge({
    ...perModel, name: METRIC.modelLoadDuration, help: 'Time to provision (download, verify) and load the model, warm-up included.',
  });
  const ready = new Gauge({ ...perModel, name: METRIC.ready, help: '1 when the model is loaded and the worker accepts requests.' });
  let gpuRead: (() => Promise<number>) | undefined;
  new Gauge({
    ...perModel, name: METRIC.gpuMemoryUsed, help: 'GPU memory in use (only when running on a GPU).',
    async collect() { if (gpuRead) this.set({ model }, await gpuRead()); },
  });
  let kvRead: (() => number) | undefined;
  new Gauge({
    ...perModel, name: METRIC.kvCacheUsage,
    help: 'Share (0 to 1) of the context\'s KV cells held by running requests (idle sequences\' kept states not counted); read at each scrape.',
    collect() { this.set({ model }, kvRead ? kvRead() : 0); },
  });
  const parallel = new Gauge({ ...perModel, name: METRIC.parallelSequences, help: 'Configured context sequences (--parallel).' });
  // Zero-initialise every series so rates exist before the first request of each kind: Prometheus'
  // increase() never counts a series' first sample, so a series born with its first request would
  // lose that request. (labels() alone does not create a histogram series; zero() does.)
  for (const e of ERROR_TYPES) requestDuration.zero({ model, error_type: e });
  ttft.zero({ model }); tpot.zero({ model });
  promptTokens.labels(model).inc(0); cachedTokens.labels(model).inc(0); generatedTokens.labels(model).inc(0);
  drafted.labels(model).inc(0); accepted.labels(model).inc(0);
  running.labels(model).set(0); waiting.labels(model).set(0); ready.labels(model).set(0);
  for (const where of PROMPT_CACHE_WHERE) {
    if (where !== 'miss') cacheHits.labels(model, where).inc(0);
    cacheReused.labels(model, where).inc(0);
  }
  cacheMisses.labels(model).inc(0); hostEvictions.labels(model).inc(0);
  hostBytes.labels(model).set(0); hostEntries.labels(model).set(0);

  // Pre-bound children: the hot path does no label lookup.
  const durationByError = new Map(ERROR_TYPES.map((e) => [e, requestDuration.labels(model, e)]));
  const hitsByWhere = { sequence: cacheHits.labels(model, 'sequence'), host: cacheHits.labels(model, 'host') };
  const reusedByWhere = { sequence: cacheReused.labels(model, 'sequence'), host: cacheReused.labels(model, 'host'), miss: cacheReused.labels(model, 'miss') };
  const misses = cacheMisses.labels(model);
  const hostBytesChild = hostBytes.labels(model);
  const hostEntriesChild = hostEntries.labels(model);
  const evictions = hostEvictions.labels(model);
  return {
    registry,
    requestDuration: (errorType: ErrorType, seconds: number) => durationByError.get(errorType)!.observe(seconds),
    ttft: ttft.labels(model),
    tpot: tpot.labels(model),
    promptTokens: promptTokens.labels(model),
    cachedTokens: cachedTokens.labels(model),
    generatedTokens: generatedTokens.labels(model),
    /** One generation's prompt-lookup drafts. */
    speculative: (() => {
      const d = drafted.labels(model);
      const a = accepted.labels(model);
      return (draftedTokens: number, acceptedTokens: number) => { if (draftedTokens > 0) { d.inc(draftedTokens); a.inc(acceptedTokens); } };
    })(),
    running: running.labels(model),
    waiting: waiting.labels(model),
    loadDuration: loadDuration.labels(model),
    ready: ready.labels(model),
    parallel: parallel.labels(model),
    apiKeyFileErrors,
    /** One request's prompt-cache outcome and the tokens it reused. */
    promptCache(outcome: (typeof PROMPT_CACHE_WHERE)[number], reusedTokens: number) {
      if (outcome === 'miss') misses.inc(); else hitsByWhere[outcome].inc();
      if (reusedTokens > 0) reusedByWhere[outcome].inc(reusedTokens);
    },
    /** What the host prompt cache reports (prompt-cache.ts). */
    hostCacheEvents: {
      onSize(bytes: number, entries: number) { hostBytesChild.set(bytes); hostEntriesChild.set(entries); },
      onEviction() { evictions.inc(); },
    },
    /** Only on GPU: the gauge is then read from the backend at each scrape. */
    setGpuMemorySource(read: () => Promise<number>) { gpuRead = read; },
    /** The engine's KV-cache usage, read at each scrape (it moves with every token, not with an event). */
    setKvCacheUsageSource(read: () => number) { kvRead = read; },
  };
}

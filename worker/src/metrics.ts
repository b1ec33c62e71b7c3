// Prometheus metrics, OTel GenAI names in Prometheus form (the contract of the SLA rules, [S]).
// Labels are bounded: `model` is the configured model name, `error_type` one of ERROR_TYPES.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const ERROR_TYPES = ['', 'invalid_request', 'cancelled', 'overloaded', 'timeout', 'internal', 'unavailable'] as const;
export type ErrorType = (typeof ERROR_TYPES)[number];

// OTel GenAI semantic-convention bucket advice, extended.
export const DEFAULT_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.32, 0.5, 0.64, 1, 1.28, 2, 2.56, 5, 5.12, 10, 10.24, 20.48, 30, 40.96, 60, 81.92, 120, 300];
export const DEFAULT_TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60];
export const DEFAULT_TPOT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5];

export function mergeBuckets(defaults: readonly number[], extra: readonly number[]): number[] {
  return [...new Set([...defaults, ...extra])].sort((a, b) => a - b);
}

export type WorkerMetrics = ReturnType<typeof createMetrics>;

export function createMetrics(opts: { model: string; sloBuckets: readonly number[]; defaultMetrics?: boolean }) {
  const registry = new Registry();
  // A few process metrics, read at scrape time. (prom-client's default set is not used: three of
  // its gauges end in _total, which `promtool check metrics` rejects, and it is slower to scrape.)
  if (opts.defaultMetrics !== false) {
    new Gauge({
      name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', registers: [registry],
      collect() { this.set(process.memoryUsage.rss()); },
    });
    new Gauge({
      name: 'nodejs_heap_used_bytes', help: 'V8 heap in use in bytes.', registers: [registry],
      collect() { this.set(process.memoryUsage().heapUsed); },
    });
    new Gauge({
      name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch in seconds.', registers: [registry],
    }).set(Math.round(Date.now() / 1000 - process.uptime()));
    let lastCpu = 0;
    new Counter({
      name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers: [registry],
      collect() {
        const u = process.cpuUsage();
        const now = (u.user + u.system) / 1e6;
        if (now > lastCpu) { this.inc(now - lastCpu); lastCpu = now; }
      },
    });
  }
  const model = opts.model;
  // The gen_ai series are per model (the request duration adds error_type).
  const perModel = { labelNames: ['model'] as const, registers: [registry] };
  const requestDuration = new Histogram({
    name: 'gen_ai_server_request_duration_seconds',
    help: 'Time from request arrival to the last byte of the response (queue wait included).',
    labelNames: ['model', 'error_type'] as const,
    buckets: mergeBuckets(DEFAULT_DURATION_BUCKETS, opts.sloBuckets),
    registers: [registry],
  });
  const ttft = new Histogram({
    name: 'gen_ai_server_time_to_first_token_seconds',
    help: 'Time from request arrival to the first generated token (queue wait and prompt evaluation included).',
    ...perModel,
    buckets: mergeBuckets(DEFAULT_TTFT_BUCKETS, opts.sloBuckets),
  });
  const tpot = new Histogram({
    name: 'gen_ai_server_time_per_output_token_seconds',
    help: 'Mean time between generated tokens after the first, one observation per request with 2+ tokens.',
    ...perModel,
    buckets: mergeBuckets(DEFAULT_TPOT_BUCKETS, opts.sloBuckets),
  });
  const promptTokens = new Counter({ ...perModel, name: 'gen_ai_server_prompt_tokens_total', help: 'Prompt (input) tokens evaluated.' });
  const cachedTokens = new Counter({
    ...perModel, name: 'gen_ai_server_prompt_cached_tokens_total',
    help: 'Prompt tokens whose state was reused from an earlier request on the same sequence (not evaluated again).',
  });
  // Why a TTFT SLO burns: how often a prompt's prefix was found, where, and what the host cache holds.
  const cacheHits = new Counter({
    name: 'gen_ai_server_prompt_cache_hits_total', labelNames: ['model', 'where'] as const, registers: [registry],
    help: 'Requests that reused a prompt prefix of 64+ tokens, by where it was: "sequence" (kept by a context sequence) or "host" (restored from the host prompt cache).',
  });
  const cacheMisses = new Counter({ ...perModel, name: 'gen_ai_server_prompt_cache_misses_total', help: 'Requests that reused less than 64 prompt tokens.' });
  const cacheReused = new Counter({
    name: 'gen_ai_server_prompt_cache_reused_tokens_total', labelNames: ['model', 'where'] as const, registers: [registry],
    help: 'Prompt tokens not evaluated again, by where their state was (as gen_ai_server_prompt_cache_hits_total; "miss" for short prefixes).',
  });
  const hostBytes = new Gauge({ ...perModel, name: 'gen_ai_server_prompt_cache_host_bytes', help: 'Bytes of saved sequence states in the host prompt cache (memory when on a tmpfs).' });
  const hostEntries = new Gauge({ ...perModel, name: 'gen_ai_server_prompt_cache_host_entries', help: 'Saved sequence states in the host prompt cache.' });
  const hostEvictions = new Counter({ ...perModel, name: 'gen_ai_server_prompt_cache_host_evictions_total', help: 'Saved states dropped from the host prompt cache to stay within its size (least recently used first).' });
  const generatedTokens = new Counter({ ...perModel, name: 'gen_ai_server_generated_tokens_total', help: 'Tokens generated (output).' });
  const running = new Gauge({ ...perModel, name: 'gen_ai_server_requests_running', help: 'Requests holding a context sequence.' });
  const waiting = new Gauge({ ...perModel, name: 'gen_ai_server_requests_waiting', help: 'Requests waiting in the queue for a context sequence.' });
  const loadDuration = new Gauge({
    ...perModel, name: 'gen_ai_server_model_load_duration_seconds', help: 'Time to provision (download, verify) and load the model, warm-up included.',
  });
  const ready = new Gauge({ ...perModel, name: 'gen_ai_server_ready', help: '1 when the model is loaded and the worker accepts requests.' });
  let gpuRead: (() => Promise<number>) | undefined;
  new Gauge({
    ...perModel, name: 'gen_ai_server_gpu_memory_used_bytes', help: 'GPU memory in use (only when running on a GPU).',
    async collect() { if (gpuRead) this.set({ model }, await gpuRead()); },
  });
  const parallel = new Gauge({ ...perModel, name: 'gen_ai_server_parallel_sequences', help: 'Configured context sequences (--parallel).' });
  // Zero-initialise every series so rates exist before the first request of each kind: Prometheus'
  // increase() never counts a series' first sample, so a series born with its first request would
  // lose that request. (labels() alone does not create a histogram series; zero() does.)
  for (const e of ERROR_TYPES) requestDuration.zero({ model, error_type: e });
  ttft.zero({ model }); tpot.zero({ model });
  promptTokens.labels(model).inc(0); cachedTokens.labels(model).inc(0); generatedTokens.labels(model).inc(0);
  running.labels(model).set(0); waiting.labels(model).set(0); ready.labels(model).set(0);
  for (const where of ['sequence', 'host'] as const) cacheHits.labels(model, where).inc(0);
  for (const where of ['sequence', 'host', 'miss'] as const) cacheReused.labels(model, where).inc(0);
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
    running: running.labels(model),
    waiting: waiting.labels(model),
    loadDuration: loadDuration.labels(model),
    ready: ready.labels(model),
    parallel: parallel.labels(model),
    /** One request's prompt-cache outcome and the tokens it reused. */
    promptCache(outcome: 'sequence' | 'host' | 'miss', reusedTokens: number) {
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
  };
}

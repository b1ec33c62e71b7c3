// The worker <-> operator contract: the names the operator's SLO rules, autoscaling triggers,
// rollout gates and dashboard read from the worker's /metrics, the error types they count, the
// default histogram boundaries, and the flags the operator passes with the worker's defaults. Defined once, here; the worker
// builds its metrics and the operator (src/, by relative path) its queries and pod args from it.
// Dependency-free on purpose: both packages import it, and the operator's image copies this one file.

/** Metric names, OTel GenAI semantic conventions in Prometheus form. */
export const METRIC = {
  requestDuration: 'gen_ai_server_request_duration_seconds',
  timeToFirstToken: 'gen_ai_server_time_to_first_token_seconds',
  timePerOutputToken: 'gen_ai_server_time_per_output_token_seconds',
  promptTokens: 'gen_ai_server_prompt_tokens_total',
  cachedPromptTokens: 'gen_ai_server_prompt_cached_tokens_total',
  generatedTokens: 'gen_ai_server_generated_tokens_total',
  requestsRunning: 'gen_ai_server_requests_running',
  requestsWaiting: 'gen_ai_server_requests_waiting',
  /**
   * Share (0 to 1) of the context's KV cells that running requests hold: what the Gateway API
   * Inference Extension's endpoint picker reads as KV-cache utilization (its
   * --kv-cache-usage-percentage-metric; with requestsWaiting and requestsRunning as its queued and
   * running requests). States kept on idle sequences for later turns are not counted: a new request
   * may take their cells, as vLLM's usage leaves out its cached free blocks.
   */
  kvCacheUsage: 'gen_ai_server_kv_cache_usage_ratio',
  modelLoadDuration: 'gen_ai_server_model_load_duration_seconds',
  ready: 'gen_ai_server_ready',
  gpuMemoryUsed: 'gen_ai_server_gpu_memory_used_bytes',
  parallelSequences: 'gen_ai_server_parallel_sequences',
  /** Requests that reused a prompt prefix of 64+ tokens, by `where` (PROMPT_CACHE_WHERE, less `miss`). */
  promptCacheHits: 'gen_ai_server_prompt_cache_hits_total',
  promptCacheMisses: 'gen_ai_server_prompt_cache_misses_total',
  /** Prompt tokens not evaluated again, by `where` (PROMPT_CACHE_WHERE). */
  promptCacheReusedTokens: 'gen_ai_server_prompt_cache_reused_tokens_total',
  promptCacheHostBytes: 'gen_ai_server_prompt_cache_host_bytes',
  promptCacheHostEntries: 'gen_ai_server_prompt_cache_host_entries',
  promptCacheHostEvictions: 'gen_ai_server_prompt_cache_host_evictions_total',
  /** Prompt-lookup decoding: tokens drafted from the prompt, and those the model accepted (its own greedy pick). */
  speculativeDraftedTokens: 'gen_ai_server_speculative_drafted_tokens_total',
  speculativeAcceptedTokens: 'gen_ai_server_speculative_accepted_tokens_total',
  residentMemory: 'process_resident_memory_bytes',
  heapUsed: 'nodejs_heap_used_bytes',
  startTime: 'process_start_time_seconds',
  cpuSeconds: 'process_cpu_seconds_total',
  /** The loaded file (1), its text facts as labels (MODEL_INFO_LABELS); the operator sizes pvc/file sources from it. */
  modelInfo: 'gen_ai_server_model_info',
  /** One number of the loaded file's GGUF header per `fact` label (MODEL_FACT_NAMES). */
  modelFact: 'gen_ai_server_model_fact',
} as const;

/** Label names on the gen_ai series (bounded: `model` is the configured name, `error_type` one of ERROR_TYPES). */
export const LABEL = { model: 'model', errorType: 'error_type', where: 'where' } as const;

/** Values of `where` on the prompt-cache series: a live sequence kept the prefix, the host cache restored it, or neither (64- tokens). */
export const PROMPT_CACHE_WHERE = ['sequence', 'host', 'miss'] as const;

/** Values of `error_type`; '' is a success. */
export const ERROR_TYPES = ['', 'invalid_request', 'cancelled', 'overloaded', 'timeout', 'internal', 'unavailable'] as const;
export type ErrorType = (typeof ERROR_TYPES)[number];
/** Error types that are the client's doing: never counted against the SLA. */
export const NOT_SERVICE_FAULT = ['invalid_request', 'cancelled'] as const satisfies readonly ErrorType[];

// OTel GenAI semantic-convention bucket advice, extended; the operator adds each SLO threshold
// (FLAG.sloBuckets), so a threshold is always a boundary.
export const DEFAULT_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.32, 0.5, 0.64, 1, 1.28, 2, 2.56, 5, 5.12, 10, 10.24, 20.48, 30, 40.96, 60, 81.92, 120, 300];
export const DEFAULT_TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60];
export const DEFAULT_TPOT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5];

/**
 * What a GGUF header says about the model that sizing needs: what the operator's own header reader
 * (src/sizing/facts.ts) and the worker (model-facts.ts, for the files the operator cannot read)
 * both give, and what status.model reports.
 */
export type ModelFacts = {
  architecture: string;
  /** Weights in the file (the sum of every tensor's elements). */
  parameters: number;
  /** The file type (e.g. Q4_K_M), else the type most weights are stored in. */
  quantization: string;
  /** Bytes of the whole file: the head plus every tensor's data. */
  fileSize: number;
  /** Bytes of tensor data (what is loaded into memory). */
  weightsBytes: number;
  /**
   * Weight bytes one decode step reads: every tensor but the token embedding, of which a step
   * reads a row per token — unless the model has no separate output matrix and multiplies by the
   * embedding to get its logits (tied embeddings: then all of it).
   */
  decodeBytes: number;
  layers: number;
  /** KV heads of the layer with the most (some models vary them per layer). */
  kvHeads: number;
  /** Query heads. */
  heads: number;
  /** Key head size; the value head size is `valueHeadDim`. */
  headDim: number;
  valueHeadDim: number;
  embeddingLength: number;
  feedForwardLength: number;
  vocabSize: number;
  /** Context length the model was trained with; undefined when the file does not say. */
  trainedContext?: number;
  /** Sliding-window attention width, when the model has one. */
  slidingWindow?: number;
};

/** Labels of METRIC.modelInfo: the text facts, and `file` (the loaded file's name: which workers still run an old model during a rollout). */
export const MODEL_INFO_LABELS = ['model', 'file', 'architecture', 'quantization'] as const;
/** The `fact` label's values on METRIC.modelFact: every numeric fact, those a file may lack last. */
export const MODEL_FACT_NAMES = {
  required: ['parameters', 'fileSize', 'weightsBytes', 'decodeBytes', 'layers', 'kvHeads', 'heads', 'headDim', 'valueHeadDim', 'embeddingLength', 'feedForwardLength', 'vocabSize'],
  optional: ['trainedContext', 'slidingWindow'],
} as const satisfies { required: readonly (keyof ModelFacts)[]; optional: readonly (keyof ModelFacts)[] };

/** Flags of `qwen-worker` the operator passes (each as one `--flag=value` word). */
export const FLAG = {
  model: 'model',
  modelName: 'model-name',
  modelSha256: 'model-sha256',
  host: 'host',
  port: 'port',
  metricsPort: 'metrics-port',
  parallel: 'parallel',
  contextSize: 'context-size',
  gpu: 'gpu',
  cacheDir: 'cache-dir',
  drainTimeout: 'drain-timeout',
  apiKeyFile: 'api-key-file',
  promptCacheBytes: 'prompt-cache-bytes',
  promptCacheDir: 'prompt-cache-dir',
  sloBuckets: 'slo-buckets',
} as const;

/**
 * The worker's defaults the operator relies on: the listen address and port its pods and probes
 * use (it passes them, and its own default port is this one), and the queue it leaves to the
 * worker (`--queue-size`, not passed: queuePerSequence × `--parallel`).
 */
export const WORKER_DEFAULT = {
  host: '0.0.0.0',
  port: 8080,
  parallel: 1,
  contextSize: 4096,
  queuePerSequence: 4,
} as const;

// Command-line flags of `qwen-worker`. The operator's pods and the tests use exactly these names.
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLAG, WORKER_DEFAULT } from './contract.ts';
import type { PromptLookupMode } from './prompt-lookup.ts';

export const DEFAULT_MODEL = 'hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M';

export type GpuMode = 'auto' | 'cuda' | 'vulkan' | false;

export type WorkerConfig = {
  model: string;
  modelSha256: string | undefined;
  modelName: string | undefined;
  host: string;
  port: number;
  metricsPort: number | undefined;
  parallel: number;
  queueSize: number;
  contextSize: number;
  threads: number | undefined;
  gpu: GpuMode;
  sloBuckets: number[];
  cacheDir: string;
  downloadStallTimeoutS: number;
  requestTimeoutS: number;
  drainTimeoutS: number;
  maxBodyBytes: number;
  logLevel: string;
  apiKeyFile: string | undefined;
  headersTimeoutS: number;
  bodyTimeoutS: number;
  keepAliveTimeoutS: number;
  maxHeaderBytes: number;
  allowHttpDownload: boolean;
  /** Host prompt cache size in bytes (0: off). */
  promptCacheBytes: number;
  promptCacheDir: string;
  /** Prompt-lookup decoding (prompt-lookup.ts): always, never, or while one request runs. */
  promptLookup: PromptLookupMode;
};

export const USAGE = `Usage: qwen-worker [flags]
  --model SPEC                  hf:<owner>/<repo>:<quant> | https://... URL | file path (default ${DEFAULT_MODEL})
  --model-sha256 HEX            verify the model file's SHA-256
  --model-name NAME             id in /v1/models and the metrics' model label (default: from the file name)
  --host ADDR                   listen address (default ${WORKER_DEFAULT.host})
  --port N                      API, /healthz, /readyz (and /metrics unless --metrics-port) (default ${WORKER_DEFAULT.port})
  --metrics-port N              serve /metrics (and /healthz, /readyz) on a separate port
  --parallel N                  context sequences = concurrent generations (default ${WORKER_DEFAULT.parallel})
  --queue-size N                requests that may wait for a sequence; beyond it 429 (default ${WORKER_DEFAULT.queuePerSequence} x parallel)
  --context-size N              tokens per sequence (default ${WORKER_DEFAULT.contextSize})
  --threads N                   CPU threads (default and maximum: the CPUs this process may use)
  --gpu auto|cuda|vulkan|false  node-llama-cpp backend (default auto)
  --slo-buckets S,S,...         seconds added to the buckets of all three latency histograms
  --cache-dir DIR               where downloaded models go (default $QWEN_CACHE/models)
  --download-stall-timeout S    fail when no byte arrives for S seconds (default 60)
  --request-timeout S           per-request deadline, queue wait included; 504 past it (default 600)
  --drain-timeout S             SIGTERM grace period for in-flight requests (default 30)
  --max-body-bytes N            request body limit; 413 past it (default 1048576)
  --api-key-file PATH           API keys, one per line (# comments); /v1/* then needs Authorization: Bearer <key>.
                                A directory (a Secret mounted whole): one file per tenant, its name the tenant's
  --headers-timeout S           request headers must arrive within S seconds; 408 past it (default 30)
  --body-timeout S              the whole request (body included) must arrive within S seconds of its
                                first byte; 408 past it; responses are not limited (default 30)
  --keep-alive-timeout S        idle keep-alive connections are closed after S seconds (default 5)
  --max-header-bytes N          request line + headers limit; 431 past it (default 16384)
  --allow-http-download         allow plain http:// model URLs (default: https:// only)
  --prompt-cache-bytes N        host prompt cache: saved sequence states, up to N bytes, so more
                                conversations than --parallel keep their prompt prefix (default 0: off)
  --prompt-cache-dir DIR        where the saved states go; put it on a tmpfs (a memory-backed emptyDir);
                                state files left there by an earlier run are removed at start
                                (default /dev/shm/qwen-worker-prompt-cache-<pid>)
  --prompt-lookup on|off|auto   prompt-lookup decoding: draft the next tokens from the prompt where the
                                output copies it (same output, fewer decode steps); auto drafts only
                                while one request runs (default off)
  --log-level LEVEL             pino level (default info)`;

export class ConfigError extends Error {}

function num(name: string, v: string | undefined, dflt: number, { min = 0, int = true } = {}): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min) {
    throw new ConfigError(`--${name} must be ${int ? 'an integer' : 'a number'} >= ${min}, got '${v}'`);
  }
  return n;
}

export function parseSloBuckets(v: string | undefined): number[] {
  if (v === undefined || v.trim() === '') return [];
  const out = v.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`--slo-buckets: '${s}' is not a positive number of seconds`);
    return n;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

export function parseGpu(v: string | undefined): GpuMode {
  switch (v ?? 'auto') {
    case 'auto': return 'auto';
    case 'cuda': return 'cuda';
    case 'vulkan': return 'vulkan';
    case 'false': case 'cpu': case 'none': return false;
    default: throw new ConfigError(`--gpu must be one of auto, cuda, vulkan, false; got '${v}'`);
  }
}

export function parsePromptLookup(v: string | undefined): PromptLookupMode {
  const mode = v ?? 'off';
  if (mode === 'on' || mode === 'off' || mode === 'auto') return mode;
  throw new ConfigError(`--prompt-lookup must be one of on, off, auto; got '${v}'`);
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' }, 'model-sha256': { type: 'string' }, 'model-name': { type: 'string' },
        host: { type: 'string' }, port: { type: 'string' }, 'metrics-port': { type: 'string' },
        parallel: { type: 'string' }, 'queue-size': { type: 'string' }, 'context-size': { type: 'string' },
        threads: { type: 'string' }, gpu: { type: 'string' }, 'slo-buckets': { type: 'string' },
        'cache-dir': { type: 'string' }, 'download-stall-timeout': { type: 'string' },
        'request-timeout': { type: 'string' }, 'drain-timeout': { type: 'string' },
        'max-body-bytes': { type: 'string' }, 'log-level': { type: 'string' }, help: { type: 'boolean' },
        'api-key-file': { type: 'string' }, 'headers-timeout': { type: 'string' }, 'body-timeout': { type: 'string' },
        'keep-alive-timeout': { type: 'string' }, 'max-header-bytes': { type: 'string' }, 'allow-http-download': { type: 'boolean' },
        [FLAG.promptCacheBytes]: { type: 'string' }, [FLAG.promptCacheDir]: { type: 'string' },
        'prompt-lookup': { type: 'string' },
      },
    }));
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  if (values.help) throw new ConfigError(USAGE);
  const parallel = num('parallel', values.parallel, WORKER_DEFAULT.parallel, { min: 1 });
  const sha = values['model-sha256']?.toLowerCase();
  if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) throw new ConfigError('--model-sha256 must be 64 hex digits');
  const cache = env.QWEN_CACHE ?? join(homedir(), '.cache', 'qwen-operator');
  const headersTimeoutS = num('headers-timeout', values['headers-timeout'], 30, { min: 0.001, int: false });
  const bodyTimeoutS = num('body-timeout', values['body-timeout'], 30, { min: 0.001, int: false });
  if (bodyTimeoutS < headersTimeoutS) {
    throw new ConfigError(`--body-timeout (${bodyTimeoutS}) must be >= --headers-timeout (${headersTimeoutS}): it counts from the request's first byte`);
  }
  const apiKeyFile = values['api-key-file'];
  if (apiKeyFile !== undefined && apiKeyFile.trim() === '') throw new ConfigError('--api-key-file must name a file');
  return {
    model: values.model ?? DEFAULT_MODEL,
    modelSha256: sha,
    modelName: values['model-name'],
    host: values.host ?? WORKER_DEFAULT.host,
    port: num('port', values.port, WORKER_DEFAULT.port),
    metricsPort: values['metrics-port'] === undefined ? undefined : num('metrics-port', values['metrics-port'], 0),
    parallel,
    queueSize: num('queue-size', values['queue-size'], WORKER_DEFAULT.queuePerSequence * parallel),
    contextSize: num('context-size', values['context-size'], WORKER_DEFAULT.contextSize, { min: 64 }),
    threads: values.threads === undefined ? undefined : num('threads', values.threads, 0, { min: 1 }),
    gpu: parseGpu(values.gpu),
    sloBuckets: parseSloBuckets(values['slo-buckets']),
    cacheDir: values['cache-dir'] ?? join(cache, 'models'),
    downloadStallTimeoutS: num('download-stall-timeout', values['download-stall-timeout'], 60, { min: 0.001, int: false }),
    requestTimeoutS: num('request-timeout', values['request-timeout'], 600, { min: 0.001, int: false }),
    drainTimeoutS: num('drain-timeout', values['drain-timeout'], 30, { min: 0, int: false }),
    maxBodyBytes: num('max-body-bytes', values['max-body-bytes'], 1 << 20, { min: 1 }),
    logLevel: values['log-level'] ?? 'info',
    apiKeyFile,
    headersTimeoutS,
    bodyTimeoutS,
    keepAliveTimeoutS: num('keep-alive-timeout', values['keep-alive-timeout'], 5, { min: 0.001, int: false }),
    maxHeaderBytes: num('max-header-bytes', values['max-header-bytes'], 16384, { min: 1024 }),
    allowHttpDownload: values['allow-http-download'] ?? false,
    promptCacheBytes: num(FLAG.promptCacheBytes, values[FLAG.promptCacheBytes], 0),
    promptCacheDir: values[FLAG.promptCacheDir] ?? join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `qwen-worker-prompt-cache-${process.pid}`),
    promptLookup: parsePromptLookup(values['prompt-lookup']),
  };
}

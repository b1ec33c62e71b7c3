// One libuv pool thread for the whole worker. Imported first by main.ts: libuv sizes its pool when
// it is first used, which is after this module has run.
//
// Why: node-llama-cpp 3.21.1 samples each sequence's token as its own pool task right after the
// shared decode; with several pool threads those tasks read the context's logits at the same time
// and a sequence can be handed a token from another sequence's row. Measured with four concurrent
// greedy completions: one continued "Count: 1, 2, 3, 4, 5," with "Thursdays, 10:00 am" from its
// neighbour's prompt, a leak between tenants' requests; with one thread no sequence gets a token
// from another's row. One thread is also faster here: decodes stop hopping between threads
// (docs/worker.md § Benchmark). Nothing in the worker needs the pool to be parallel.

/** What the environment asked for, when it was not 1 (main.ts logs that it was overridden). */
export const overriddenThreadpoolSize = process.env.UV_THREADPOOL_SIZE !== undefined && process.env.UV_THREADPOOL_SIZE !== '1'
  ? process.env.UV_THREADPOOL_SIZE
  : undefined;

process.env.UV_THREADPOOL_SIZE = '1';

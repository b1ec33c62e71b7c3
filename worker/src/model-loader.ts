// Loading the model: the llama.cpp backend, the model file, one context with `parallel` sequences
// (decode batches in SequenceOrder's order) and the host prompt cache, as the Engine is built from.
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import { SequenceOrder } from './batch-order.ts';
import type { EngineOptions } from './engine.ts';
import { HostPromptCache } from './prompt-cache.ts';
import { PromptLookup } from './prompt-lookup.ts';

export type LoadedModel = {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  sequences: LlamaContextSequence[];
  host: HostPromptCache | undefined;
  /** Why decode batches keep the library's order (its internals changed shape); undefined when they do not. */
  batchOrderMismatch: string | undefined;
};

/** `mayDraft`: whether a sequence's prompt-lookup predictor may draft now (with `options.promptLookup` on or auto). */
export async function loadModel(options: EngineOptions, mayDraft: () => boolean = () => true): Promise<LoadedModel> {
  const llama = await getLlama({
    gpu: options.gpu,
    build: 'never',
    maxThreads: options.threads,
    logLevel: LlamaLogLevel.error,
    progressLogs: false,
  });
  const model = await llama.loadModel({ modelPath: options.modelPath, gpuLayers: options.gpu === false ? 0 : 'auto' });
  // The batching strategy reads the context's queue, and is needed to create the context.
  const order = new SequenceOrder();
  const context = await model.createContext({
    sequences: options.parallel,
    contextSize: options.contextSize,
    threads: options.threads,
    // On CPU too: fewer graph nodes per step than the plain attention (~5% more tokens/s at 4
    // concurrent requests here), as llama-server's default ("auto") also chooses.
    flashAttention: true,
    batching: { itemPrioritizationStrategy: order.strategy },
    // With a sliding-window KV cache a kept prefix could not be reused (its window is gone):
    // keep the whole context's state so prompt-prefix reuse works on such models (Gemma 3) too.
    swaFullCache: true,
    failedCreationRemedy: false,
  });
  // A predictor is fixed when a sequence is created; each generation turns its own on or off (generation.ts).
  const lookup = (options.promptLookup ?? 'off') !== 'off';
  const sequences = Array.from({ length: options.parallel }, () => context.getSequence(lookup ? { tokenPredictor: new PromptLookup(mayDraft) } : {}));
  const batchOrderMismatch = order.enable(context, sequences[0]!);
  const pc = options.promptCache;
  const host = pc && pc.maxBytes > 0 ? await HostPromptCache.open(pc.dir, pc.maxBytes, model.fileInsights.swaSize ?? 0, pc.events) : undefined;
  return { llama, model, context, sequences, host, batchOrderMismatch };
}

// The arithmetic of sizing (docs/sizing.md): the memory a worker needs for a model at a
// contextSize × parallel, and the fastest decode the hardware's memory bandwidth and FP16
// throughput allow. Pure: facts in, numbers out. The figures follow how the worker runs llama.cpp
// (worker/src/engine.ts): flash attention, a full-size KV cache for every layer (swaFullCache),
// llama.cpp's default micro-batch of 512 tokens.
import type { ModelFacts } from './facts.ts';
import { KV_CACHE_TYPES, type KvCacheType } from './ggml-types.ts';

/** llama.cpp's default n_ubatch: the tokens one graph evaluation processes. */
export const UBATCH = 512;
/** llama.cpp pads each sequence's KV cells to a multiple of 256. */
const KV_PAD = 256;
const F32 = 4;
/** The worker process itself (Node, llama.cpp's host buffers, the CUDA runtime's host side). */
export const RUNTIME_OVERHEAD_BYTES = 768 * 1024 * 1024;

export type SizingInput = { contextSize: number; parallel: number; kvCacheType: KvCacheType };

export type MemoryEstimate = {
  weights: number;
  kvCache: number;
  /** The graph of one micro-batch; its largest tensor is the logits of every token in it. */
  compute: number;
  /** Host buffer of the logits llama.cpp hands back, one row per sequence. */
  output: number;
  /** What the GPU(s) must hold: weights + KV cache + compute. */
  device: number;
  /** What the process needs on the CPU path (everything in host memory), runtime included. */
  host: number;
  /** KV cache bytes per token of context, all layers. */
  kvBytesPerToken: number;
};

export const padContext = (contextSize: number): number => Math.ceil(contextSize / KV_PAD) * KV_PAD;

export function kvBytesPerToken(facts: ModelFacts, kvCacheType: KvCacheType): number {
  return facts.layers * facts.kvHeads * (facts.headDim + facts.valueHeadDim) * KV_CACHE_TYPES[kvCacheType];
}

/** Bytes of the compute graph: the larger of the logits and the FFN activations of one micro-batch. */
export function computeBytes(facts: ModelFacts, input: Pick<SizingInput, 'contextSize' | 'parallel'>): number {
  const ubatch = Math.min(UBATCH, input.contextSize * input.parallel);
  return F32 * ubatch * Math.max(facts.vocabSize, 3 * facts.feedForwardLength + 4 * facts.embeddingLength);
}

export function estimateMemory(facts: ModelFacts, input: SizingInput): MemoryEstimate {
  const perToken = kvBytesPerToken(facts, input.kvCacheType);
  const kvCache = perToken * input.parallel * padContext(input.contextSize);
  const compute = computeBytes(facts, input);
  const output = F32 * facts.vocabSize * input.parallel;
  const device = facts.weightsBytes + kvCache + compute;
  return { weights: facts.weightsBytes, kvCache, compute, output, device, host: device + output + RUNTIME_OVERHEAD_BYTES, kvBytesPerToken: perToken };
}

/** The most KV cache tokens (contextSize × parallel) that fit in `memory` bytes next to the weights and compute buffers. */
export function tokensThatFit(facts: ModelFacts, input: SizingInput, memory: number): number {
  const perToken = kvBytesPerToken(facts, input.kvCacheType);
  const free = memory - facts.weightsBytes - computeBytes(facts, input);
  return free <= 0 ? 0 : Math.floor(free / perToken);
}

export type Hardware = { name: string; memoryBytes?: number; bandwidthGBps: number; fp16TFLOPS?: number };

export type DecodeBound = {
  /** Upper bound of one sequence's tokens/s while `parallel` sequences decode together, caches empty. */
  tokensPerSecond: number;
  /** The same with every sequence's cache full (contextSize tokens each). */
  atFullContext: number;
  /** Which limit binds: reading the weights, or the arithmetic. */
  limitedBy: 'bandwidth' | 'compute';
};

/**
 * A decode step produces one token for each of `parallel` sequences and reads every weight once
 * (shared by all of them) plus each sequence's KV cache; it also does ~2 FLOPs per weight per
 * token. So one sequence gets at most min(bandwidth ÷ bytes read, FLOPS ÷ (2 × parameters ×
 * parallel)) tokens per second. Real kernels reach a fraction of either peak: this is a bound.
 */
export function decodeBound(facts: ModelFacts, input: SizingInput, hw: Hardware): DecodeBound {
  const bandwidth = hw.bandwidthGBps * 1e9;
  const byBandwidth = bandwidth / facts.decodeBytes;
  const byCompute = hw.fp16TFLOPS ? (hw.fp16TFLOPS * 1e12) / (2 * facts.parameters * input.parallel) : Infinity;
  const kvFull = kvBytesPerToken(facts, input.kvCacheType) * input.contextSize * input.parallel;
  const full = Math.min(bandwidth / (facts.decodeBytes + kvFull), byCompute);
  return { tokensPerSecond: Math.min(byBandwidth, byCompute), atFullContext: full, limitedBy: byCompute < byBandwidth ? 'compute' : 'bandwidth' };
}

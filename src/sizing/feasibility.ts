// Whether a QwenService's model and SLA fit the hardware it asks for, as the SLAFeasible
// condition and as the lines `size` and `render --explain` print. Pure: the model's facts (read
// elsewhere), the spec and the hardware in, a verdict with its numbers out. An infeasible SLA
// blocks nothing: the team may accept it; the condition and a Warning event say so.
import type { QwenService } from '../api/qwenservice.ts';
import { Reason } from '../conventions.ts';
import type { ModelFacts } from './facts.ts';
import { KV_CACHE_TYPES, type KvCacheType } from './ggml-types.ts';
import { decodeBound, estimateMemory, tokensThatFit, type DecodeBound, type Hardware, type MemoryEstimate, type SizingInput } from './estimate.ts';
import { findGpu, GPU_PRODUCTS, USABLE_MEMORY } from './gpus.ts';

/** The CPU path's memory bandwidth unless the operator's --cpu-memory-bandwidth says otherwise (GB/s): a two-channel DDR4-3200 server socket's practical read rate. */
export const DEFAULT_CPU_BANDWIDTH_GBPS = 20;

export type Feasibility = { status: 'True' | 'False' | 'Unknown'; reason: string; message: string };

export type SizingSpec = SizingInput & { gpuCount: number; gpuProduct?: string; tokensPerSecondMin?: number };

export type Sizing = {
  facts: ModelFacts;
  spec: SizingSpec;
  estimate: MemoryEstimate;
  hardware?: Hardware;
  bound?: DecodeBound;
  feasibility: Feasibility;
};

const GiB = 1024 ** 3;
export const gib = (bytes: number): string => `${(bytes / GiB).toFixed(1)} GiB`;
const tps = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toPrecision(3));

export function sizingSpec(qs: QwenService): SizingSpec {
  const m = qs.spec.model;
  // spec.model.kvCacheType comes with a later API change; f16 (llama.cpp's default) until then.
  const declared = (m as { kvCacheType?: string }).kvCacheType;
  const kvCacheType: KvCacheType = declared && declared in KV_CACHE_TYPES ? (declared as KvCacheType) : 'f16';
  const min = qs.spec.sla?.outputTokensPerSecond?.min;
  return {
    contextSize: m.contextSize, parallel: m.parallel, kvCacheType, gpuCount: qs.spec.gpu.count,
    ...(qs.spec.gpu.product ? { gpuProduct: qs.spec.gpu.product } : {}),
    ...(min !== undefined ? { tokensPerSecondMin: min } : {}),
  };
}

/** The hardware one worker runs on: its GPUs (memory adds up, layers run one GPU after another), or the CPU. */
export function hardwareOf(spec: SizingSpec, cpuBandwidthGBps: number): Hardware | { unknown: string } {
  if (spec.gpuCount === 0) return { name: 'CPU', bandwidthGBps: cpuBandwidthGBps };
  if (!spec.gpuProduct) return { unknown: 'spec.gpu.product is not set, so the GPU\'s memory and bandwidth are unknown' };
  const gpu = findGpu(spec.gpuProduct);
  if (!gpu) return { unknown: `GPU product ${spec.gpuProduct} is not in the operator's table (${GPU_PRODUCTS.map((g) => g.product).join(', ')})` };
  return {
    name: spec.gpuCount > 1 ? `${spec.gpuCount}× ${gpu.product}` : gpu.product,
    memoryBytes: spec.gpuCount * gpu.memoryGiB * GiB * USABLE_MEMORY,
    bandwidthGBps: gpu.bandwidthGBps,
    fp16TFLOPS: gpu.fp16TFLOPS,
  };
}

/** Bits per weight that would let one sequence decode at `min` tokens/s on `hw` (bandwidth alone). */
function bitsPerWeightFor(facts: ModelFacts, hw: Hardware, min: number): number {
  return ((hw.bandwidthGBps * 1e9) / min) * 8 / facts.parameters;
}

export function assess(facts: ModelFacts, spec: SizingSpec, hw: Hardware | { unknown: string }): Sizing {
  const estimate = estimateMemory(facts, spec);
  const base = { facts, spec, estimate };
  const problems: Feasibility[] = [];
  if (facts.trainedContext !== undefined && spec.contextSize > facts.trainedContext) {
    problems.push({ status: 'False', reason: Reason.ContextExceedsModel, message: `contextSize ${spec.contextSize} is above the ${facts.trainedContext} tokens ${facts.architecture} was trained with: answers degrade past it` });
  }
  if ('unknown' in hw) {
    return { ...base, feasibility: problems[0] ?? { status: 'Unknown', reason: Reason.GPUProductUnknown, message: hw.unknown } };
  }
  const bound = decodeBound(facts, spec, hw);
  if (hw.memoryBytes !== undefined && estimate.device > hw.memoryBytes) {
    const fit = tokensThatFit(facts, spec, hw.memoryBytes);
    const maxParallel = Math.floor(fit / Math.ceil(spec.contextSize / 256) / 256);
    const maxContext = Math.floor(fit / spec.parallel / 256) * 256;
    const hint = fit === 0
      ? `the weights and compute buffers alone (${gib(estimate.weights + estimate.compute)}) do not fit: a smaller quantization or more GPUs`
      : `at most ${fit} tokens of KV cache fit (contextSize × parallel): e.g. contextSize ${spec.contextSize} × parallel ${maxParallel}, or contextSize ${maxContext} × parallel ${spec.parallel}`;
    problems.push({
      status: 'False', reason: Reason.InsufficientMemory,
      message: `needs ${gib(estimate.device)} (weights ${gib(estimate.weights)} + KV cache ${gib(estimate.kvCache)} for ${spec.contextSize} × ${spec.parallel} tokens at ${spec.kvCacheType} + compute ${gib(estimate.compute)}) but ${hw.name} leaves ${gib(hw.memoryBytes)}; ${hint}`,
    });
  }
  const min = spec.tokensPerSecondMin;
  if (min !== undefined && bound.tokensPerSecond < min) {
    const ways: string[] = [];
    if (bound.limitedBy === 'compute') {
      const p = Math.floor((hw.fp16TFLOPS! * 1e12) / (2 * facts.parameters * min));
      if (p >= 1) ways.push(`parallel ${p} or fewer`);
    }
    const bits = bitsPerWeightFor(facts, hw, min);
    ways.push(bits >= 1.5 ? `a quantization of at most ${bits.toFixed(1)} bits per weight (now ${(facts.decodeBytes * 8 / facts.parameters).toFixed(1)})` : 'a smaller model');
    ways.push(spec.gpuCount === 0 ? 'a GPU' : 'a GPU with more memory bandwidth');
    problems.push({
      status: 'False', reason: Reason.TokensPerSecondUnreachable,
      message: `outputTokensPerSecond.min ${min} is above the ${tps(bound.tokensPerSecond)} tokens/s per sequence ${hw.name} can reach at parallel ${spec.parallel} (${bound.limitedBy === 'bandwidth' ? `${hw.bandwidthGBps} GB/s ÷ ${gib(facts.decodeBytes)} of weights per token` : `${hw.fp16TFLOPS} TFLOPS ÷ 2 FLOPs × ${facts.parameters} weights × ${spec.parallel} sequences`}; ${tps(bound.atFullContext)} with full caches); would reach it: ${ways.join(', or ')}`,
    });
  }
  if (problems.length) {
    const [first] = problems;
    return { ...base, hardware: hw, bound, feasibility: { status: 'False', reason: first!.reason, message: problems.map((p) => p.message).join('; ') } };
  }
  const memory = hw.memoryBytes !== undefined
    ? `needs ${gib(estimate.device)} of ${gib(hw.memoryBytes)} on ${hw.name} (${gib(hw.memoryBytes - estimate.device)} headroom)`
    : `needs ${gib(estimate.host)} of host memory on the CPU`;
  const speed = min !== undefined
    ? `decode bound ${tps(bound.tokensPerSecond)} tokens/s per sequence at parallel ${spec.parallel}, ${(bound.tokensPerSecond / min).toFixed(1)}× the floor of ${min}`
    : `decode bound ${tps(bound.tokensPerSecond)} tokens/s per sequence at parallel ${spec.parallel}`;
  return { ...base, hardware: hw, bound, feasibility: { status: 'True', reason: Reason.WithinPhysicalBounds, message: `${memory}; ${speed}` } };
}

/** The sizing in words, one fact per line (`size`, `render --explain`). */
export function explainSizing(s: Sizing): string[] {
  const f = s.facts;
  const e = s.estimate;
  const lines = [
    `model: ${f.architecture}, ${(f.parameters / 1e9).toFixed(2)}B parameters, ${f.quantization}, ${gib(f.fileSize)} file; ${f.layers} layers, ${f.kvHeads} KV heads × ${f.headDim}, trained context ${f.trainedContext ?? 'unknown'}`,
    `memory: weights ${gib(e.weights)} + KV cache ${gib(e.kvCache)} (${s.spec.contextSize} × ${s.spec.parallel} tokens at ${s.spec.kvCacheType}) + compute ${gib(e.compute)} = ${gib(e.device)}; on the CPU ${gib(e.host)} with the process`,
  ];
  if (s.hardware && s.bound) {
    lines.push(`hardware: ${s.hardware.name}${s.hardware.memoryBytes !== undefined ? `, ${gib(s.hardware.memoryBytes)} usable` : ''}, ${s.hardware.bandwidthGBps} GB/s${s.hardware.fp16TFLOPS ? `, ${s.hardware.fp16TFLOPS} FP16 TFLOPS` : ''}`);
    lines.push(`decode bound: ${tps(s.bound.tokensPerSecond)} tokens/s per sequence at parallel ${s.spec.parallel} (${s.bound.limitedBy}-bound), ${tps(s.bound.atFullContext)} with full caches`);
  }
  lines.push(`SLAFeasible: ${s.feasibility.status}/${s.feasibility.reason}: ${s.feasibility.message}`);
  return lines;
}

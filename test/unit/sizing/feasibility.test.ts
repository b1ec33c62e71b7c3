// SLAFeasible's verdicts (src/sizing/feasibility.ts) for a Qwen3-4B-shaped Q4_K_M model: the
// numbers in each message are the estimate's (src/sizing/estimate.ts), worked out here by hand.
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { parseGgufHead } from '../../../src/sizing/gguf.ts';
import { modelFacts } from '../../../src/sizing/facts.ts';
import { decodeBound, estimateMemory, kvBytesPerToken } from '../../../src/sizing/estimate.ts';
import { assess, explainSizing, hardwareOf, sizingSpec } from '../../../src/sizing/feasibility.ts';
import { findGpu, GPU_PRODUCTS } from '../../../src/sizing/gpus.ts';
import { qwen3Shaped4B } from '../../support/gguf-writer.ts';

const facts = modelFacts(parseGgufHead(qwen3Shaped4B()));
const qws = (spec: Record<string, unknown>) => parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat' }, spec });
const verdict = (spec: Record<string, unknown>, cpuGBps = 20) => {
  const s = sizingSpec(qws(spec));
  return assess(facts, s, hardwareOf(s, cpuGBps));
};

describe('the estimate', () => {
  it('counts the KV cache as layers × KV heads × (key + value head size) × bytes per element, per token of every sequence', () => {
    expect(kvBytesPerToken(facts, 'f16')).toBe(36 * 8 * 256 * 2);
    expect(kvBytesPerToken(facts, 'q8_0')).toBe(36 * 8 * 256 * 34 / 32);
    const e = estimateMemory(facts, { contextSize: 8000, parallel: 4, kvCacheType: 'f16' });
    expect(e.kvCache).toBe(36 * 8 * 256 * 2 * 4 * 8192); // padded to 256 cells per sequence
    expect(e.compute).toBe(4 * 512 * 151936); // the logits of one 512-token micro-batch
    expect(e.device).toBe(facts.weightsBytes + e.kvCache + e.compute);
  });

  it('bounds decode by bandwidth ÷ weights read, and by FP16 throughput ÷ 2 FLOPs per weight per sequence', () => {
    const l4 = hardwareOf({ contextSize: 8192, parallel: 4, kvCacheType: 'f16', gpuCount: 1, gpuProduct: 'NVIDIA-L4' }, 20);
    if ('unknown' in l4) throw new Error(l4.unknown);
    const b = decodeBound(facts, { contextSize: 8192, parallel: 4, kvCacheType: 'f16' }, l4);
    expect(b.tokensPerSecond).toBeCloseTo(300e9 / facts.decodeBytes, 6);
    expect(b.limitedBy).toBe('bandwidth');
    expect(b.atFullContext).toBeCloseTo(300e9 / (facts.decodeBytes + 36 * 8 * 256 * 2 * 8192 * 4), 6);
    const many = decodeBound(facts, { contextSize: 8192, parallel: 64, kvCacheType: 'f16' }, { name: 'slow', bandwidthGBps: 320, fp16TFLOPS: 20 });
    expect(many.limitedBy).toBe('compute');
    expect(many.tokensPerSecond).toBeCloseTo(20e12 / (2 * facts.parameters * 64), 6);
  });
});

describe('SLAFeasible', () => {
  it('False/InsufficientMemory with the numbers and the largest contextSize × parallel that fits', () => {
    const s = verdict({ model: { contextSize: 32768, parallel: 8 }, gpu: { count: 1, product: 'NVIDIA-L4' } });
    expect(s.feasibility).toMatchObject({ status: 'False', reason: 'InsufficientMemory' });
    const usable = 24 * 0.95 * 1024 ** 3;
    const fit = Math.floor((usable - facts.weightsBytes - 4 * 512 * 151936) / (36 * 8 * 256 * 2));
    expect(s.feasibility.message).toContain(`needs ${(s.estimate.device / 1024 ** 3).toFixed(1)} GiB`);
    expect(s.feasibility.message).toContain('but NVIDIA-L4 leaves 22.8 GiB');
    expect(s.feasibility.message).toContain(`at most ${fit} tokens of KV cache fit (contextSize × parallel): e.g. contextSize 32768 × parallel ${Math.floor(fit / 32768)}, or contextSize ${Math.floor(fit / 8 / 256) * 256} × parallel 8`);
    // Two L4s hold it (layers split across them).
    expect(verdict({ model: { contextSize: 32768, parallel: 8 }, gpu: { count: 2, product: 'NVIDIA-L4' } }).feasibility.reason).toBe('WithinPhysicalBounds');
  });

  it('False/TokensPerSecondUnreachable with the bound and what would reach it', () => {
    const s = verdict({ model: { contextSize: 8192, parallel: 4 }, gpu: { count: 1, product: 'NVIDIA-L4' }, sla: { outputTokensPerSecond: { min: 200 } } });
    expect(s.feasibility).toMatchObject({ status: 'False', reason: 'TokensPerSecondUnreachable' });
    const bound = 300e9 / facts.decodeBytes;
    expect(s.feasibility.message).toContain(`outputTokensPerSecond.min 200 is above the ${bound.toFixed(0)} tokens/s per sequence NVIDIA-L4 can reach at parallel 4`);
    expect(s.feasibility.message).toContain(`a quantization of at most ${((300e9 / 200) * 8 / facts.parameters).toFixed(1)} bits per weight`);
    // The same floor on an H100 is within bounds, with its headroom.
    const h100 = verdict({ model: { contextSize: 8192, parallel: 4 }, gpu: { count: 1, product: 'NVIDIA-H100-80GB-HBM3' }, sla: { outputTokensPerSecond: { min: 200 } } });
    expect(h100.feasibility).toMatchObject({ status: 'True', reason: 'WithinPhysicalBounds' });
    expect(h100.feasibility.message).toMatch(/^needs \d+\.\d GiB of 76\.0 GiB on NVIDIA-H100-80GB-HBM3 \(\d+\.\d GiB headroom\); decode bound \d+ tokens\/s per sequence at parallel 4, \d+\.\d× the floor of 200$/);
  });

  it('says at high parallel that fewer sequences would reach a compute-bound floor', () => {
    const spec = sizingSpec(qws({ model: { contextSize: 1024, parallel: 64 }, sla: { outputTokensPerSecond: { min: 90 } } }));
    const s = assess(facts, spec, { name: 'a GPU of 20 TFLOPS', memoryBytes: 64 * 1024 ** 3, bandwidthGBps: 320, fp16TFLOPS: 20 });
    expect(s.feasibility.reason).toBe('TokensPerSecondUnreachable');
    expect(s.feasibility.message).toContain(`would reach it: parallel ${Math.floor(20e12 / (2 * facts.parameters * 90))} or fewer, or a quantization`);
  });

  it('False/ContextExceedsModel above the trained context, before anything else', () => {
    const s = verdict({ model: { contextSize: 300000, parallel: 1 }, gpu: { count: 1, product: 'L4' } });
    expect(s.feasibility.reason).toBe('ContextExceedsModel');
    expect(s.feasibility.message).toMatch(/^contextSize 300000 is above the 262144 tokens qwen3 was trained with.*; needs .* but NVIDIA-L4 leaves/);
  });

  it('Unknown without a known GPU product; the CPU path from the configured bandwidth', () => {
    expect(verdict({ gpu: { count: 1 } }).feasibility).toMatchObject({ status: 'Unknown', reason: 'GPUProductUnknown', message: expect.stringContaining('spec.gpu.product is not set') });
    expect(verdict({ gpu: { count: 1, product: 'NVIDIA-Nonexistent' } }).feasibility.message).toContain('GPU product NVIDIA-Nonexistent is not in the operator\'s table');
    const cpu = verdict({ gpu: { count: 0 }, sla: { outputTokensPerSecond: { min: 5 } } }, 40);
    expect(cpu.feasibility.status).toBe('True');
    expect(cpu.bound!.tokensPerSecond).toBeCloseTo(40e9 / facts.decodeBytes, 6);
    expect(verdict({ gpu: { count: 0 }, sla: { outputTokensPerSecond: { min: 20 } } }, 40).feasibility.reason).toBe('TokensPerSecondUnreachable');
  });

  it('explains itself in lines', () => {
    const lines = explainSizing(verdict({ gpu: { count: 1, product: 'NVIDIA-L4' } }));
    expect(lines[0]).toBe(`model: qwen3, ${(facts.parameters / 1e9).toFixed(2)}B parameters, Q4_K_M, ${(facts.fileSize / 1024 ** 3).toFixed(1)} GiB file; 36 layers, 8 KV heads × 128, trained context 262144`);
    expect(lines.at(-1)).toMatch(/^SLAFeasible: True\/WithinPhysicalBounds: /);
  });
});

describe('the GPU table', () => {
  it('is keyed by GPU feature discovery label values and finds short names', () => {
    for (const g of GPU_PRODUCTS) expect(g.product).toMatch(/^(NVIDIA|Tesla)-[A-Za-z0-9-]+$/);
    expect(new Set(GPU_PRODUCTS.map((g) => g.product)).size).toBe(GPU_PRODUCTS.length);
    expect(findGpu('l4')?.product).toBe('NVIDIA-L4');
    expect(findGpu('NVIDIA-A100-SXM4-80GB')?.memoryGiB).toBe(80);
    expect(findGpu('H200')?.bandwidthGBps).toBe(4800);
  });
});

// What the loaded model's GGUF header says about its size, exported as metrics so the operator can
// size QwenServices whose file it cannot read itself (pvc:// and file:// sources): the same facts,
// under the same names and definitions (contract.ts), as its own header reader (src/sizing/facts.ts). One info
// series (the text facts as labels) and one gauge series per numeric fact: bounded, a dozen series.
import type { GgufFileInfo, GgufTensorInfo } from 'node-llama-cpp';
import { GgmlType, GgufFileType } from 'node-llama-cpp';
import { Gauge, type Registry } from 'prom-client';
import { METRIC, MODEL_INFO_LABELS, type ModelFacts } from './contract.ts';

export type { ModelFacts } from './contract.ts';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'bigint' ? Number(v) : undefined);
/** A per-layer value given as one number or one per layer: the largest. */
const largest = (v: unknown): number | undefined => (Array.isArray(v) && v.length ? Math.max(...v.map((x) => num(x) ?? 0)) : num(v));

/**
 * Bytes of each tensor, from where the next one starts. Tensors are aligned (32 bytes by
 * default), so the gap to the next also holds padding; a tensor being `rows` rows of whole bytes
 * and the padding shorter than that many bytes, rounding the gap down to a multiple of `rows`
 * gives its exact size without ggml's type table.
 */
function tensorBytes(tensors: readonly GgufTensorInfo[], dataSize: number): Map<GgufTensorInfo, number> {
  const sorted = [...tensors].sort((a, b) => Number(a.offset) - Number(b.offset));
  const bytes = new Map<GgufTensorInfo, number>();
  sorted.forEach((t, i) => {
    const gap = (i + 1 < sorted.length ? Number(sorted[i + 1]!.offset) : dataSize) - Number(t.offset);
    const rows = t.dimensions.slice(1).reduce<number>((a, d) => a * Number(d), 1);
    bytes.set(t, Math.floor(gap / rows) * rows);
  });
  return bytes;
}

/** The facts of the model file the worker loaded (`fileSize`: the file's length on disk). */
export function modelFactsOf(info: GgufFileInfo, fileSize: number): ModelFacts {
  const arch = info.architectureMetadata as Record<string, unknown> & { attention?: Record<string, unknown> };
  const attention = arch.attention ?? {};
  const embeddingLength = num(arch.embedding_length) ?? 0;
  const heads = largest(attention.head_count) ?? 0;
  const tensors = info.fullTensorInfo ?? [];
  const bytes = tensorBytes(tensors, fileSize - (info.infoEndOffset ?? 0));
  let weightsBytes = 0;
  let parameters = 0;
  const bytesByType = new Map<GgmlType, number>();
  for (const [t, b] of bytes) {
    weightsBytes += b;
    parameters += t.dimensions.reduce<number>((a, d) => a * Number(d), 1);
    bytesByType.set(t.ggmlType, (bytesByType.get(t.ggmlType) ?? 0) + b);
  }
  const embedding = tensors.find((t) => t.name === 'token_embd.weight');
  const fileType = num(info.metadata.general?.file_type);
  const dominant = [...bytesByType].sort((a, b) => b[1] - a[1])[0]?.[0];
  const tokens = info.metadata.tokenizer?.ggml?.tokens;
  const trainedContext = num(arch.context_length);
  const slidingWindow = num(attention.sliding_window);
  return {
    architecture: String(info.metadata.general?.architecture ?? 'unknown'),
    quantization: (fileType !== undefined ? GgufFileType[fileType]?.replace(/^(MOSTLY|ALL)_/, '') : undefined) ?? (dominant !== undefined ? GgmlType[dominant] : undefined) ?? 'unknown',
    parameters,
    fileSize,
    weightsBytes,
    decodeBytes: tensors.some((t) => t.name === 'output.weight') ? weightsBytes - (embedding ? bytes.get(embedding)! : 0) : weightsBytes,
    layers: num(arch.block_count) ?? 0,
    kvHeads: largest(attention.head_count_kv) ?? heads,
    heads,
    headDim: num(attention.key_length) ?? embeddingLength / heads,
    valueHeadDim: num(attention.value_length) ?? embeddingLength / heads,
    embeddingLength,
    feedForwardLength: largest(arch.feed_forward_length) ?? 4 * embeddingLength,
    vocabSize: num(arch.vocab_size) ?? (Array.isArray(tokens) ? tokens.length : 0),
    ...(trainedContext !== undefined ? { trainedContext } : {}),
    ...(slidingWindow !== undefined && slidingWindow > 0 ? { slidingWindow } : {}),
  };
}

/**
 * `gen_ai_server_model_info{model,file,architecture,quantization} 1` and
 * `gen_ai_server_model_fact{model,fact} value`. `file` (the loaded file's name) lets the operator
 * tell, during a rollout to another model, the workers still serving the old one.
 */
export function registerModelFacts(registry: Registry, model: string, file: string, facts: ModelFacts): void {
  const { architecture, quantization, ...numbers } = facts;
  new Gauge({
    name: METRIC.modelInfo, help: 'The loaded model file (1): its name, architecture and quantization, as its GGUF header says.',
    labelNames: MODEL_INFO_LABELS, registers: [registry],
  }).set({ model, file, architecture, quantization }, 1);
  const fact = new Gauge({
    name: METRIC.modelFact, help: 'A number the loaded model\'s GGUF header gives (fact: layers, kvHeads, headDim, weightsBytes, ...), for sizing.',
    labelNames: ['model', 'fact'] as const, registers: [registry],
  });
  for (const [name, value] of Object.entries(numbers)) if (value !== undefined) fact.set({ model, fact: name }, value);
}

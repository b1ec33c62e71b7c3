// What a GGUF head says about the model that sizing needs, under llama.cpp's key names
// (`<architecture>.block_count`, `<architecture>.attention.head_count_kv`, ...): what status.model
// reports and what the estimate multiplies. The type is the worker contract's (the workers report
// the same facts for the files the operator cannot read).
import { GgufError, type GgufHead, type GgufValue } from './gguf.ts';
import { fileTypeName, GGML_TYPES, tensorBytes } from './ggml-types.ts';
import type { ModelFacts } from '../../worker/src/contract.ts';

export type { ModelFacts } from '../../worker/src/contract.ts';

const num = (v: GgufValue | undefined): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** A per-layer value stored either as one number or as an array of one per layer: the largest. */
function largest(v: GgufValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && v.values?.length) return Math.max(...v.values);
  return undefined;
}

function positiveInt(what: string, v: number | undefined): number {
  if (v === undefined || !Number.isSafeInteger(v) || v <= 0) throw new GgufError(`the file does not give ${what} (or it is not a positive whole number)`);
  return v;
}

/** The facts of a parsed head; a GgufError names what is missing or inconsistent. */
export function modelFacts(head: GgufHead): ModelFacts {
  const md = head.metadata;
  const architecture = md.get('general.architecture');
  if (typeof architecture !== 'string' || !/^[\w.-]{1,64}$/.test(architecture)) throw new GgufError('the file does not name its architecture (general.architecture)');
  const key = (k: string) => md.get(`${architecture}.${k}`);
  const layers = positiveInt(`${architecture}.block_count`, num(key('block_count')));
  const embeddingLength = positiveInt(`${architecture}.embedding_length`, num(key('embedding_length')));
  const heads = positiveInt(`${architecture}.attention.head_count`, largest(key('attention.head_count')));
  const kvHeads = positiveInt(`${architecture}.attention.head_count_kv`, largest(key('attention.head_count_kv')) ?? heads);
  const headDim = positiveInt(`${architecture}.attention.key_length`, num(key('attention.key_length')) ?? embeddingLength / heads);
  const valueHeadDim = positiveInt(`${architecture}.attention.value_length`, num(key('attention.value_length')) ?? embeddingLength / heads);
  const tokens = md.get('tokenizer.ggml.tokens');
  const vocabSize = num(key('vocab_size')) ?? (tokens && typeof tokens === 'object' ? tokens.length : 0);
  const trainedContext = num(key('context_length'));
  const slidingWindow = num(key('attention.sliding_window'));

  let parameters = 0;
  let weightsBytes = 0;
  let dataEnd = 0;
  let embeddingBytes = 0;
  const bytesByType = new Map<number, number>();
  for (const t of head.tensors) {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    const bytes = tensorBytes(t.type, elements);
    if (bytes === undefined) throw new GgufError(`tensor ${t.name} has type ${GGML_TYPES.get(t.type)?.name ?? t.type}, whose size this operator does not know`);
    parameters += elements;
    weightsBytes += bytes;
    dataEnd = Math.max(dataEnd, t.offset + bytes);
    bytesByType.set(t.type, (bytesByType.get(t.type) ?? 0) + bytes);
    if (t.name === 'token_embd.weight') embeddingBytes = bytes;
  }
  if (!head.tensors.length) throw new GgufError('the file has no tensors');
  const fileType = num(md.get('general.file_type'));
  const dominant = [...bytesByType].sort((a, b) => b[1] - a[1])[0]![0];
  return {
    architecture,
    parameters,
    quantization: (fileType !== undefined ? fileTypeName(fileType) : undefined) ?? GGML_TYPES.get(dominant)!.name,
    fileSize: head.dataOffset + dataEnd,
    weightsBytes,
    decodeBytes: head.tensors.some((t) => t.name === 'output.weight') ? weightsBytes - embeddingBytes : weightsBytes,
    layers,
    kvHeads,
    heads,
    headDim,
    valueHeadDim,
    embeddingLength,
    feedForwardLength: largest(key('feed_forward_length')) ?? 4 * embeddingLength,
    vocabSize,
    ...(trainedContext !== undefined ? { trainedContext } : {}),
    ...(slidingWindow !== undefined && slidingWindow > 0 ? { slidingWindow } : {}),
  };
}

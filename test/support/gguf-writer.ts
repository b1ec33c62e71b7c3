// Writes GGUF heads for tests: synthetic models of a given shape (no tensor data, like a file cut
// after its tensor infos), and the raw pieces hostile inputs are built from.

export type Meta = Record<string, number | string | boolean | { u32s: number[] } | { strings: string[] }>;
export type Tensor = { name: string; dims: number[]; type: number };

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64 = (n: number | bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
const str = (s: string) => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([u64(b.length), b]); };

export const gguf = { u32, u64, str };

function value(v: Meta[string]): Buffer {
  if (typeof v === 'string') return Buffer.concat([u32(8), str(v)]);
  if (typeof v === 'boolean') return Buffer.concat([u32(7), Buffer.from([v ? 1 : 0])]);
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return Buffer.concat([u32(4), u32(v)]);
    const b = Buffer.alloc(4); b.writeFloatLE(v); return Buffer.concat([u32(6), b]);
  }
  if ('u32s' in v) return Buffer.concat([u32(9), u32(4), u64(v.u32s.length), ...v.u32s.map(u32)]);
  return Buffer.concat([u32(9), u32(8), u64(v.strings.length), ...v.strings.map(str)]);
}

/** Tensor sizes for the offsets (the types the tests use). */
const BYTES: Record<number, (n: number) => number> = { 0: (n) => 4 * n, 1: (n) => 2 * n, 12: (n) => (n / 256) * 144, 14: (n) => (n / 256) * 210, 8: (n) => (n / 32) * 34 };

/** A GGUF v3 head: header, metadata, tensor infos with consecutive 32-aligned offsets. */
export function ggufHead(meta: Meta, tensors: Tensor[]): Buffer {
  const parts: Buffer[] = [Buffer.from('GGUF'), u32(3), u64(tensors.length), u64(Object.keys(meta).length)];
  for (const [k, v] of Object.entries(meta)) parts.push(str(k), value(v));
  let offset = 0;
  for (const t of tensors) {
    parts.push(str(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.type), u64(offset));
    const n = t.dims.reduce((a, b) => a * b, 1);
    offset += Math.ceil(BYTES[t.type]!(n) / 32) * 32;
  }
  return Buffer.concat(parts);
}

const Q4_K = 12, Q6_K = 14, F32 = 0;

/**
 * A head shaped like Qwen3-4B (Qwen/Qwen3-4B config.json: 36 layers, hidden 2560, 32 query heads,
 * 8 KV heads of 128, FFN 9728, vocabulary 151936, tied embeddings, 262144 trained context), its
 * weights as a Q4_K_M file stores them (attention and FFN in Q4_K, embedding in Q6_K).
 */
export function qwen3Shaped4B(): Buffer {
  const d = 2560, layers = 36, heads = 32, kv = 8, hd = 128, ffn = 9728, vocab = 151936;
  const tensors: Tensor[] = [{ name: 'token_embd.weight', dims: [d, vocab], type: Q6_K }];
  for (let i = 0; i < layers; i++) {
    const b = `blk.${i}`;
    tensors.push(
      { name: `${b}.attn_norm.weight`, dims: [d], type: F32 },
      { name: `${b}.attn_q.weight`, dims: [d, heads * hd], type: Q4_K },
      { name: `${b}.attn_k.weight`, dims: [d, kv * hd], type: Q4_K },
      { name: `${b}.attn_v.weight`, dims: [d, kv * hd], type: Q6_K },
      { name: `${b}.attn_output.weight`, dims: [heads * hd, d], type: Q4_K },
      { name: `${b}.attn_q_norm.weight`, dims: [hd], type: F32 },
      { name: `${b}.attn_k_norm.weight`, dims: [hd], type: F32 },
      { name: `${b}.ffn_norm.weight`, dims: [d], type: F32 },
      { name: `${b}.ffn_gate.weight`, dims: [d, ffn], type: Q4_K },
      { name: `${b}.ffn_up.weight`, dims: [d, ffn], type: Q4_K },
      { name: `${b}.ffn_down.weight`, dims: [ffn, d], type: Q6_K },
    );
  }
  tensors.push({ name: 'output_norm.weight', dims: [d], type: F32 });
  return ggufHead({
    'general.architecture': 'qwen3',
    'general.name': 'Qwen3-4B-shaped',
    'general.file_type': 15,
    'qwen3.block_count': layers,
    'qwen3.context_length': 262144,
    'qwen3.embedding_length': d,
    'qwen3.feed_forward_length': ffn,
    'qwen3.attention.head_count': heads,
    'qwen3.attention.head_count_kv': kv,
    'qwen3.attention.key_length': hd,
    'qwen3.attention.value_length': hd,
    'qwen3.rope.freq_base': 5000000,
    'qwen3.attention.layer_norm_rms_epsilon': 0.000001,
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.tokens': { strings: Array.from({ length: vocab }, (_, i) => `t${i}`) },
  }, tensors);
}

// ggml's tensor types (the `type` of a GGUF tensor info) with their storage size, and the names of
// llama.cpp's file types (`general.file_type`). Sizes are ggml's type traits: a block of
// `blockSize` elements is stored in `bytesPerBlock` bytes (ggml/src/ggml.c, type_traits).

type TypeSize = { name: string; blockSize: number; bytesPerBlock: number };

const QK = 32;
const QK_K = 256;

/** By ggml type id. Types whose layout is not listed here make a tensor's size unknown. */
export const GGML_TYPES: ReadonlyMap<number, TypeSize> = new Map<number, TypeSize>([
  [0, { name: 'F32', blockSize: 1, bytesPerBlock: 4 }],
  [1, { name: 'F16', blockSize: 1, bytesPerBlock: 2 }],
  [2, { name: 'Q4_0', blockSize: QK, bytesPerBlock: 18 }],
  [3, { name: 'Q4_1', blockSize: QK, bytesPerBlock: 20 }],
  [6, { name: 'Q5_0', blockSize: QK, bytesPerBlock: 22 }],
  [7, { name: 'Q5_1', blockSize: QK, bytesPerBlock: 24 }],
  [8, { name: 'Q8_0', blockSize: QK, bytesPerBlock: 34 }],
  [9, { name: 'Q8_1', blockSize: QK, bytesPerBlock: 36 }],
  [10, { name: 'Q2_K', blockSize: QK_K, bytesPerBlock: 84 }],
  [11, { name: 'Q3_K', blockSize: QK_K, bytesPerBlock: 110 }],
  [12, { name: 'Q4_K', blockSize: QK_K, bytesPerBlock: 144 }],
  [13, { name: 'Q5_K', blockSize: QK_K, bytesPerBlock: 176 }],
  [14, { name: 'Q6_K', blockSize: QK_K, bytesPerBlock: 210 }],
  [15, { name: 'Q8_K', blockSize: QK_K, bytesPerBlock: 292 }],
  [16, { name: 'IQ2_XXS', blockSize: QK_K, bytesPerBlock: 66 }],
  [17, { name: 'IQ2_XS', blockSize: QK_K, bytesPerBlock: 74 }],
  [18, { name: 'IQ3_XXS', blockSize: QK_K, bytesPerBlock: 98 }],
  [19, { name: 'IQ1_S', blockSize: QK_K, bytesPerBlock: 50 }],
  [20, { name: 'IQ4_NL', blockSize: QK, bytesPerBlock: 18 }],
  [21, { name: 'IQ3_S', blockSize: QK_K, bytesPerBlock: 110 }],
  [22, { name: 'IQ2_S', blockSize: QK_K, bytesPerBlock: 82 }],
  [23, { name: 'IQ4_XS', blockSize: QK_K, bytesPerBlock: 136 }],
  [24, { name: 'I8', blockSize: 1, bytesPerBlock: 1 }],
  [25, { name: 'I16', blockSize: 1, bytesPerBlock: 2 }],
  [26, { name: 'I32', blockSize: 1, bytesPerBlock: 4 }],
  [27, { name: 'I64', blockSize: 1, bytesPerBlock: 8 }],
  [28, { name: 'F64', blockSize: 1, bytesPerBlock: 8 }],
  [29, { name: 'IQ1_M', blockSize: QK_K, bytesPerBlock: 56 }],
  [30, { name: 'BF16', blockSize: 1, bytesPerBlock: 2 }],
  // Repacked Q4_0 / IQ4_NL (removed from newer files, same bytes per element).
  [31, { name: 'Q4_0_4_4', blockSize: QK, bytesPerBlock: 18 }],
  [32, { name: 'Q4_0_4_8', blockSize: QK, bytesPerBlock: 18 }],
  [33, { name: 'Q4_0_8_8', blockSize: QK, bytesPerBlock: 18 }],
  [34, { name: 'TQ1_0', blockSize: QK_K, bytesPerBlock: 54 }],
  [35, { name: 'TQ2_0', blockSize: QK_K, bytesPerBlock: 66 }],
  [36, { name: 'IQ4_NL_4_4', blockSize: QK, bytesPerBlock: 18 }],
  [37, { name: 'IQ4_NL_4_8', blockSize: QK, bytesPerBlock: 18 }],
  [38, { name: 'IQ4_NL_8_8', blockSize: QK, bytesPerBlock: 18 }],
  [39, { name: 'MXFP4', blockSize: QK, bytesPerBlock: 17 }],
]);

/** Bytes of `elements` values of ggml type `type`; undefined when the type is unknown or the count is not whole blocks. */
export function tensorBytes(type: number, elements: number): number | undefined {
  const t = GGML_TYPES.get(type);
  if (!t || elements % t.blockSize !== 0) return undefined;
  return (elements / t.blockSize) * t.bytesPerBlock;
}

/** llama.cpp's `llama_ftype` names, by `general.file_type` (the quantization people name a file by). */
const FILE_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M', 13: 'Q3_K_L',
  14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K', 19: 'IQ2_XXS', 20: 'IQ2_XS', 21: 'Q2_K_S', 22: 'IQ3_XS',
  23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL', 26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S', 29: 'IQ2_M', 30: 'IQ4_XS', 31: 'IQ1_M', 32: 'BF16',
  36: 'TQ1_0', 37: 'TQ2_0', 38: 'MXFP4_MOE',
};

export function fileTypeName(fileType: number): string | undefined {
  return FILE_TYPES[fileType];
}

/** KV cache element types the worker can be given, with their bytes per element. */
export const KV_CACHE_TYPES = { f16: 2, q8_0: 34 / 32, q4_0: 18 / 32 } as const;
export type KvCacheType = keyof typeof KV_CACHE_TYPES;

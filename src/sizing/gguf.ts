// A bounded reader of a GGUF file's head: the header, the metadata key/values and the tensor
// infos (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), never the tensor data. It
// runs on whatever prefix of the file it is given (a complete file, a truncated one, the bytes of
// an HTTP range request) and says how many more bytes it needs when the prefix ends too soon.
// The input is untrusted (any URL a QwenService names): every count and length is checked against
// the bytes actually present before anything is allocated, the head may not exceed a byte budget,
// and what is kept is small — scalars, short strings, short numeric arrays — so a hostile file
// costs at most the budget and a clear error, never a crash or an unbounded allocation.

export class GgufError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GgufError';
  }
}

/** The prefix ends before the tensor infos do: at least `needed` bytes of the file are required. */
export class GgufTruncatedError extends GgufError {
  readonly needed: number;
  constructor(needed: number) {
    super(`the file ends before its tensor infos do (at least ${needed} bytes needed)`);
    this.name = 'GgufTruncatedError';
    this.needed = needed;
  }
}

/** A metadata value as kept: arrays keep their length, and their values only when short and numeric. */
export type GgufValue = number | bigint | boolean | string | { arrayType: number; length: number; values?: number[] };

export type GgufTensorInfo = { name: string; dims: number[]; type: number; /** From the start of the data section. */ offset: number };

export type GgufHead = {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  /** Where the tensor data starts in the file (the end of the head, aligned). */
  dataOffset: number;
};

export type GgufLimits = {
  /** Largest head (header, metadata, tensor infos) accepted, bytes. */
  maxHeadBytes: number;
  maxKeyValues: number;
  maxTensors: number;
};

/** Enough for a 256k-token vocabulary with its merges (~10 MB in Qwen and Gemma files). */
export const DEFAULT_GGUF_LIMITS: GgufLimits = { maxHeadBytes: 64 * 1024 * 1024, maxKeyValues: 4096, maxTensors: 65536 };

const MAGIC = 0x46554747; // "GGUF" little-endian
const MAX_KEY_BYTES = 65535;
/** Strings longer than this (chat templates, licences) are skipped, not kept. */
const MAX_KEPT_STRING_BYTES = 1024;
/** Numeric arrays up to this length (per-layer head counts, SWA patterns) are kept. */
const MAX_KEPT_ARRAY = 4096;
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_NESTING = 2;
const DEFAULT_ALIGNMENT = 32;

/** GGUF metadata value types. */
const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;
const SCALAR_BYTES: Record<number, number> = { [T.U8]: 1, [T.I8]: 1, [T.U16]: 2, [T.I16]: 2, [T.U32]: 4, [T.I32]: 4, [T.F32]: 4, [T.BOOL]: 1, [T.U64]: 8, [T.I64]: 8, [T.F64]: 8 };

class Reader {
  pos = 0;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly limit: number;
  constructor(bytes: Uint8Array, limit: number) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.limit = limit;
  }
  /** Makes sure `n` more bytes are present: a truncation error when the prefix is short, a format error past the budget. */
  need(n: number): void {
    const end = this.pos + n;
    if (!Number.isSafeInteger(end) || end > this.limit) throw new GgufError(`the GGUF head is larger than the ${this.limit} bytes allowed (or a length in it is corrupt)`);
    if (end > this.bytes.byteLength) throw new GgufTruncatedError(end);
  }
  u8(): number { this.need(1); return this.view.getUint8(this.pos++); }
  u32(): number { this.need(4); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  count(what: string): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(`${what} is ${v}, beyond what a GGUF file can hold`);
    return Number(v);
  }
  skip(n: number): void { this.need(n); this.pos += n; }
  /** A string; undefined (skipped) when longer than `keep` bytes. */
  string(keep: number, what: string): string | undefined {
    const len = this.count(`the length of ${what}`);
    this.need(len);
    const start = this.pos;
    this.pos += len;
    return len <= keep ? new TextDecoder('utf-8', { fatal: false }).decode(this.bytes.subarray(start, start + len)) : undefined;
  }
  scalar(type: number): number | bigint | boolean {
    const n = SCALAR_BYTES[type]!;
    this.need(n);
    const p = this.pos;
    this.pos += n;
    switch (type) {
      case T.U8: return this.view.getUint8(p);
      case T.I8: return this.view.getInt8(p);
      case T.U16: return this.view.getUint16(p, true);
      case T.I16: return this.view.getInt16(p, true);
      case T.U32: return this.view.getUint32(p, true);
      case T.I32: return this.view.getInt32(p, true);
      case T.F32: return this.view.getFloat32(p, true);
      case T.BOOL: return this.view.getUint8(p) !== 0;
      case T.F64: return this.view.getFloat64(p, true);
      case T.U64: { const v = this.view.getBigUint64(p, true); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
      default: { const v = this.view.getBigInt64(p, true); return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v; }
    }
  }
}

function readValue(r: Reader, type: number, key: string, depth: number): GgufValue | undefined {
  if (type === T.STRING) return r.string(MAX_KEPT_STRING_BYTES, `the value of ${key}`);
  if (type in SCALAR_BYTES) return r.scalar(type);
  if (type !== T.ARRAY) throw new GgufError(`metadata ${key} has unknown value type ${type}`);
  if (depth >= MAX_NESTING) throw new GgufError(`metadata ${key} nests arrays deeper than ${MAX_NESTING}`);
  const arrayType = r.u32();
  const length = r.count(`the length of ${key}`);
  const size = SCALAR_BYTES[arrayType];
  if (size !== undefined) {
    // Checked as a whole before reading: a length of 2^50 is a clear error, not a long loop.
    r.need(length * size);
    if (length > MAX_KEPT_ARRAY || arrayType === T.U64 || arrayType === T.I64 || arrayType === T.BOOL) {
      r.skip(length * size);
      return { arrayType, length };
    }
    const values: number[] = [];
    for (let i = 0; i < length; i++) values.push(r.scalar(arrayType) as number);
    return { arrayType, length, values };
  }
  if (arrayType !== T.STRING && arrayType !== T.ARRAY) throw new GgufError(`metadata ${key} is an array of unknown type ${arrayType}`);
  // Each element has at least its 8-byte length: a length the prefix cannot hold fails here.
  r.need(length * 8);
  for (let i = 0; i < length; i++) {
    if (arrayType === T.STRING) r.string(0, `an element of ${key}`);
    else readValue(r, T.ARRAY, key, depth + 1);
  }
  return { arrayType, length };
}

/**
 * Parses the head of a GGUF file from a prefix of it. Throws GgufTruncatedError (with the bytes
 * needed) when the prefix is too short, GgufError when the bytes are not a GGUF head we accept.
 */
export function parseGgufHead(bytes: Uint8Array, limits: GgufLimits = DEFAULT_GGUF_LIMITS): GgufHead {
  const r = new Reader(bytes, limits.maxHeadBytes);
  if (bytes.byteLength >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) !== MAGIC) throw new GgufError('not a GGUF file (the first 4 bytes are not "GGUF")');
  r.skip(4);
  const version = r.u32();
  if (version !== 2 && version !== 3) throw new GgufError(`GGUF version ${version} is not supported (2 and 3 are)`);
  const tensorCount = r.count('the tensor count');
  const kvCount = r.count('the metadata count');
  if (kvCount > limits.maxKeyValues) throw new GgufError(`the file declares ${kvCount} metadata entries, more than the ${limits.maxKeyValues} allowed`);
  if (tensorCount > limits.maxTensors) throw new GgufError(`the file declares ${tensorCount} tensors, more than the ${limits.maxTensors} allowed`);
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.string(MAX_KEY_BYTES, 'a metadata key');
    if (key === undefined) throw new GgufError(`metadata key ${i} is longer than ${MAX_KEY_BYTES} bytes`);
    const value = readValue(r, r.u32(), key, 0);
    if (value !== undefined) metadata.set(key, value);
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string(MAX_KEY_BYTES, 'a tensor name');
    if (name === undefined) throw new GgufError(`the name of tensor ${i} is longer than ${MAX_KEY_BYTES} bytes`);
    const nDims = r.u32();
    if (nDims < 1 || nDims > MAX_DIMS) throw new GgufError(`tensor ${name} has ${nDims} dimensions (1 to ${MAX_DIMS} allowed)`);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const n = r.count(`a dimension of tensor ${name}`);
      elements *= n;
      if (!Number.isSafeInteger(elements)) throw new GgufError(`tensor ${name} has more elements than a GGUF file can hold`);
      dims.push(n);
    }
    const type = r.u32();
    const offset = r.count(`the offset of tensor ${name}`);
    tensors.push({ name, dims, type, offset });
  }
  const alignmentValue = metadata.get('general.alignment');
  const alignment = typeof alignmentValue === 'number' && alignmentValue > 0 && (alignmentValue & (alignmentValue - 1)) === 0 ? alignmentValue : DEFAULT_ALIGNMENT;
  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  return { version, metadata, tensors, dataOffset };
}

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
export type RangeReader = (offset: number, length: number) => Promise<Uint8Array>;

/**
 * Reads the head through `read`: the first `initial` bytes, then more (at least double, or what
 * the parser says it needs) until the head parses or the budget is spent. A source that returns
 * fewer bytes than asked has ended: a head cut short there is an error, never a wait.
 */
export async function readGgufHead(read: RangeReader, limits: GgufLimits = DEFAULT_GGUF_LIMITS, initial = 1024 * 1024): Promise<GgufHead> {
  let size = Math.min(initial, limits.maxHeadBytes);
  let bytes = new Uint8Array(0);
  for (;;) {
    if (bytes.byteLength < size) {
      const more = await read(bytes.byteLength, size - bytes.byteLength);
      const joined = new Uint8Array(bytes.byteLength + more.byteLength);
      joined.set(bytes);
      joined.set(more, bytes.byteLength);
      const ended = joined.byteLength < size;
      bytes = joined;
      try {
        return parseGgufHead(bytes, limits);
      } catch (e) {
        if (!(e instanceof GgufTruncatedError)) throw e;
        if (ended) throw new GgufError(`the file is ${bytes.byteLength} bytes long and ends inside its head (its tensor infos need at least ${e.needed})`);
        size = Math.min(limits.maxHeadBytes, Math.max(e.needed, size * 2));
      }
    } else {
      throw new GgufError(`the GGUF head is larger than the ${limits.maxHeadBytes} bytes allowed`);
    }
  }
}

// The GGUF head reader (src/sizing/gguf.ts) and the facts read from it (src/sizing/facts.ts), on
// synthetic heads: a Qwen3-4B-shaped one, every prefix of a small one (truncated anywhere), and
// hostile ones (lengths and counts that lie, random bytes) that must give a GgufError, never a
// crash, a hang or an allocation of what they claim.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DEFAULT_GGUF_LIMITS, GgufError, GgufTruncatedError, parseGgufHead, readGgufHead, type RangeReader } from '../../../src/sizing/gguf.ts';
import { modelFacts } from '../../../src/sizing/facts.ts';
import { gguf, ggufHead, qwen3Shaped4B } from '../../support/gguf-writer.ts';

const small = () => ggufHead(
  {
    'general.architecture': 'llama', 'general.file_type': 7, 'llama.block_count': 2, 'llama.context_length': 4096,
    'llama.embedding_length': 64, 'llama.attention.head_count': 4, 'llama.attention.head_count_kv': { u32s: [2, 1] },
    'tokenizer.ggml.tokens': { strings: ['a', 'b', 'c'] }, 'general.description': 'x'.repeat(5000),
  },
  [
    { name: 'token_embd.weight', dims: [64, 3], type: 0 },
    { name: 'blk.0.attn_q.weight', dims: [64, 64], type: 8 },
    { name: 'blk.1.attn_q.weight', dims: [64, 64], type: 8 },
    { name: 'output.weight', dims: [64, 3], type: 1 },
  ],
);

/** A range reader over a buffer, counting what it was asked for. */
function over(bytes: Uint8Array, asked: Array<[number, number]> = []): RangeReader {
  return async (offset, length) => { asked.push([offset, length]); return bytes.subarray(offset, offset + length); };
}

describe('parseGgufHead', () => {
  it('reads a Qwen3-4B-shaped head: 36 layers, 8 KV heads of 128, ~4B parameters in Q4_K_M', () => {
    const facts = modelFacts(parseGgufHead(qwen3Shaped4B()));
    expect(facts).toMatchObject({
      architecture: 'qwen3', quantization: 'Q4_K_M', layers: 36, kvHeads: 8, heads: 32, headDim: 128, valueHeadDim: 128,
      embeddingLength: 2560, feedForwardLength: 9728, vocabSize: 151936, trainedContext: 262144,
    });
    expect(facts.parameters).toBe(151936 * 2560 + 36 * (2560 * 4096 * 2 + 2560 * 1024 * 2 + 2560 * 9728 * 3 + 2 * 2560 + 2 * 128) + 2560);
    // Tied embeddings (no output.weight): decoding reads the embedding too, for the logits.
    expect(facts.decodeBytes).toBe(facts.weightsBytes);
  });

  it('keeps per-layer arrays, skips long strings, and leaves an untied embedding out of the bytes a decode step reads', () => {
    const head = parseGgufHead(small());
    expect(head.metadata.get('general.description')).toBeUndefined();
    const facts = modelFacts(head);
    expect(facts.kvHeads).toBe(2);
    expect(facts.quantization).toBe('Q8_0');
    expect(facts.vocabSize).toBe(3);
    expect(facts.weightsBytes).toBe(64 * 3 * 4 + 2 * (64 * 64 / 32) * 34 + 64 * 3 * 2);
    expect(facts.decodeBytes).toBe(facts.weightsBytes - 64 * 3 * 4);
    expect(facts.fileSize).toBe(head.dataOffset + 768 + 2 * 4352 + 384);
  });

  it('says how many bytes it needs for every prefix that ends before the tensor infos do', () => {
    const full = small();
    const head = parseGgufHead(full);
    for (let n = 0; n < full.length; n++) {
      let err: unknown;
      try { parseGgufHead(full.subarray(0, n)); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(GgufTruncatedError);
      expect((err as GgufTruncatedError).needed).toBeGreaterThan(n);
      expect((err as GgufTruncatedError).needed).toBeLessThanOrEqual(full.length);
    }
    // Anything after the tensor infos (data, or nothing) reads the same.
    expect(parseGgufHead(Buffer.concat([full, Buffer.alloc(1000, 7)])).tensors).toEqual(head.tensors);
  });

  it.each([
    ['bad magic', Buffer.concat([Buffer.from('GGML'), gguf.u32(3), gguf.u64(0), gguf.u64(0)]), /not a GGUF file/],
    ['version 1', Buffer.concat([Buffer.from('GGUF'), gguf.u32(1), gguf.u64(0), gguf.u64(0)]), /version 1 is not supported/],
    ['2^60 tensors', Buffer.concat([Buffer.from('GGUF'), gguf.u32(3), gguf.u64(2n ** 60n), gguf.u64(0)]), /beyond what a GGUF file can hold|more than the/],
    ['a million metadata entries', Buffer.concat([Buffer.from('GGUF'), gguf.u32(3), gguf.u64(0), gguf.u64(1_000_000)]), /more than the 4096 allowed/],
    ['a key claiming 2^40 bytes', Buffer.concat([Buffer.from('GGUF'), gguf.u32(3), gguf.u64(0), gguf.u64(1), gguf.u64(2 ** 40)]), /larger than the .* bytes allowed/],
    ['an array claiming 2^50 u32s', Buffer.concat([Buffer.from('GGUF'), gguf.u32(3), gguf.u64(0), gguf.u64(1), gguf.str('k'), gguf.u32(9), gguf.u32(4), gguf.u64(2 ** 50)]), /larger than the .* bytes allowed/],
    ['an unknown value type', Buffer.concat([Buffer.from('GGUF'), gguf.u32(3), gguf.u64(0), gguf.u64(1), gguf.str('k'), gguf.u32(99)]), /unknown value type 99/],
    ['a tensor with 9 dimensions', Buffer.concat([Buffer.from('GGUF'), gguf.u32(3), gguf.u64(1), gguf.u64(0), gguf.str('t'), gguf.u32(9)]), /9 dimensions/],
    ['a tensor of 2^40 × 2^40 elements', Buffer.concat([Buffer.from('GGUF'), gguf.u32(3), gguf.u64(1), gguf.u64(0), gguf.str('t'), gguf.u32(2), gguf.u64(2 ** 40), gguf.u64(2 ** 40), gguf.u32(0), gguf.u64(0)]), /more elements than/],
  ])('refuses %s with a GgufError', (_, bytes, message) => {
    expect(() => parseGgufHead(bytes)).toThrow(message);
    try { parseGgufHead(bytes); } catch (e) { expect(e).toBeInstanceOf(GgufError); expect(e).not.toBeInstanceOf(GgufTruncatedError); }
  });

  it('gives a GgufError (never another error) for any bytes, and any bytes spliced into a real head', () => {
    const real = small();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), fc.nat(real.length), (junk, at) => {
      for (const bytes of [Buffer.concat([Buffer.from('GGUF'), junk]), Buffer.concat([real.subarray(0, at), junk, real.subarray(at + junk.length)])]) {
        try {
          modelFacts(parseGgufHead(bytes, { ...DEFAULT_GGUF_LIMITS, maxHeadBytes: 1 << 20 }));
        } catch (e) {
          if (!(e instanceof GgufError)) throw e;
        }
      }
    }), { numRuns: 300 });
  });
});

describe('modelFacts', () => {
  it('names what the head lacks', () => {
    const head = parseGgufHead(ggufHead({ 'general.architecture': 'llama', 'llama.embedding_length': 64 }, [{ name: 't', dims: [32], type: 0 }]));
    expect(() => modelFacts(head)).toThrow('the file does not give llama.block_count');
    expect(() => modelFacts(parseGgufHead(ggufHead({}, [])))).toThrow('does not name its architecture');
    const unknownType = parseGgufHead(ggufHead({ 'general.architecture': 'llama', 'llama.block_count': 1, 'llama.embedding_length': 64, 'llama.attention.head_count': 1 }, [{ name: 't', dims: [32], type: 0 }]));
    unknownType.tensors[0]!.type = 77;
    expect(() => modelFacts(unknownType)).toThrow('tensor t has type 77, whose size this operator does not know');
  });
});

describe('readGgufHead', () => {
  it('reads more until the head parses, without reading far past it', async () => {
    const head = qwen3Shaped4B();
    const asked: Array<[number, number]> = [];
    const parsed = await readGgufHead(over(head, asked), DEFAULT_GGUF_LIMITS, 64 * 1024);
    expect(parsed.tensors).toHaveLength(36 * 11 + 2);
    const read = asked.reduce((n, [, len]) => n + len, 0);
    expect(read).toBeLessThan(2 * head.length + 64 * 1024);
    // Each request continues where the last one ended: nothing is read twice.
    asked.slice(1).forEach(([offset], i) => expect(offset).toBe(asked[i]![0] + asked[i]![1]));
  });

  it('says the file ended inside its head when the source runs out', async () => {
    const head = small();
    await expect(readGgufHead(over(head.subarray(0, 200)), DEFAULT_GGUF_LIMITS, 64)).rejects.toThrow(/is 200 bytes long and ends inside its head/);
  });

  it('gives up at the byte budget', async () => {
    await expect(readGgufHead(over(qwen3Shaped4B()), { ...DEFAULT_GGUF_LIMITS, maxHeadBytes: 256 * 1024 }, 1024)).rejects.toThrow(/larger than the 262144 bytes allowed/);
  });
});

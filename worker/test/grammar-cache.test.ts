// The grammar cache on node-llama-cpp's real compiler: one compilation per schema (by digest),
// refusals remembered, least recently used out first, and each compilation in a turn of its own.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import type { Llama, LlamaGrammar } from 'node-llama-cpp';
import { GrammarCache } from '../src/grammar-cache.ts';
import type { GbnfSchema } from '../src/schema.ts';

let llama: Llama;
beforeAll(async () => { llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.disabled, progressLogs: false }); });
afterAll(async () => { await llama?.dispose(); });

const cache = (capacity?: number) => new GrammarCache((s: GbnfSchema) => llama.createGrammarForJsonSchema(s as never), capacity);
const person = (): GbnfSchema => ({ type: 'object', properties: { name: { type: 'string', maxLength: 20 }, age: { type: 'integer' } }, required: ['name'] });

describe('GrammarCache', () => {
  it('compiles a schema once, whoever sends it again (an equal schema built anew)', async () => {
    const c = cache();
    const a: LlamaGrammar = await c.get(person());
    const b = await c.get(person());
    expect(b).toBe(a);
    expect(c.compiled).toBe(1);
    // Another property order is another grammar (the output's order follows it).
    const other = await c.get({ type: 'object', properties: { age: { type: 'integer' }, name: { type: 'string', maxLength: 20 } }, required: ['name'] });
    expect(other).not.toBe(a);
    expect(c.compiled).toBe(2);
  });

  it('remembers a schema the compiler refuses', async () => {
    const c = cache();
    // llama.cpp refuses this repetition (1,999 optional items of a group): "exceeds sane defaults".
    const refused = { type: 'array', items: { type: 'object', properties: { a: { type: 'string' } } }, maxItems: 1999 };
    await expect(c.get(refused)).rejects.toThrow(/grammar/i);
    await expect(c.get(refused)).rejects.toThrow(/grammar/i);
    expect(c.compiled).toBe(1);
  });

  it('keeps the most recently used entries up to its capacity', async () => {
    const c = cache(2);
    const s = (n: number): GbnfSchema => ({ type: 'string', maxLength: n });
    await c.get(s(1));
    await c.get(s(2));
    await c.get(s(1));
    await c.get(s(3));
    expect(c.size).toBe(2);
    expect(c.compiled).toBe(3);
    await c.get(s(1));
    expect(c.compiled).toBe(3);
    await c.get(s(2));
    expect(c.compiled).toBe(4);
  });

  it('compiles in a turn of the event loop of its own, not in the caller\'s', async () => {
    const c = cache();
    let compiledBefore = -1;
    const pending = c.get({ type: 'string', maxLength: 7 });
    // Whatever the caller does after asking runs before the compilation starts.
    compiledBefore = c.compiled;
    await pending;
    expect(compiledBefore).toBe(0);
    expect(c.compiled).toBe(1);
  });
});

// Tokenizing on the tokenizer thread: the same tokens as the main thread's model (plain text,
// special-token text, a rendered chat with special tokens), and the event loop keeps turning
// while a large prompt is tokenized.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getLlama, LlamaLogLevel, resolveChatWrapper } from 'node-llama-cpp';
import type { Llama, LlamaModel } from 'node-llama-cpp';
import { TokenizerThread } from '../src/tokenizer-thread.ts';
import { testModelPath } from './support.ts';

let llama: Llama;
let model: LlamaModel;
let thread: TokenizerThread;
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  model = await llama.loadModel({ modelPath: testModelPath(), gpuLayers: 0 });
  thread = await TokenizerThread.start(testModelPath());
}, 60_000);
afterAll(async () => {
  await thread?.close();
  await model?.dispose();
  await llama?.dispose();
});

describe('TokenizerThread', () => {
  it.each([
    ['plain text', 'Hello, world! How are you today?'],
    ['special-token text (read as text)', '<start_of_turn>user\nhi<end_of_turn>'],
    ['unicode', 'Grüße 😀 — 日本語のテキスト \u202eabc'],
    ['a NUL and a lone surrogate', 'a\u0000b\ud800c'],
  ])('gives the main thread\'s tokens for %s', async (_name, text) => {
    expect(await thread.tokenize(text)).toEqual(model.tokenize(text, false));
  });

  it('gives the main thread\'s tokens for a rendered chat (special tokens included)', async () => {
    const chat = resolveChatWrapper(model).generateContextState({
      chatHistory: [{ type: 'system', text: 'Be brief.' }, { type: 'user', text: 'Hi <end_of_turn> there' }, { type: 'model', response: [] }],
    }).contextText;
    const want = chat.tokenize(model.tokenizer);
    expect(await thread.tokenizeText(chat)).toEqual(want);
    expect(want).toContain(model.tokens.bos);
  });

  it('lets the event loop turn while it tokenizes a large prompt', async () => {
    const text = 'the quick brown fox jumps over the lazy dog '.repeat(10_000);
    // On the main thread, no timer can fire during a tokenization: it is one synchronous call.
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 1);
    model.tokenize(text, false);
    const duringMainThread = ticks;
    const tokens = await thread.tokenize(text);
    clearInterval(timer);
    expect(duringMainThread).toBe(0);
    expect(tokens.length).toBeGreaterThan(80_000);
    // Timers fired while the thread worked (the tokenization takes it tens of milliseconds at least).
    expect(ticks).toBeGreaterThan(0);
  });

  it('many requests at once get their own answers', async () => {
    const texts = Array.from({ length: 20 }, (_, i) => `request ${i}: ${'word '.repeat(i * 10)}`);
    const got = await Promise.all(texts.map((t) => thread.tokenize(t)));
    expect(got).toEqual(texts.map((t) => model.tokenize(t, false)));
  });
});

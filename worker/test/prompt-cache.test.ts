// Prompt caching across many conversations, on the real test model: which free sequence a request
// takes (sequence-pool.ts), the host cache of saved sequence states (prompt-cache.ts), and
// interleaved multi-turn conversations through the worker with the official openai client.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import OpenAI from 'openai';
import { Engine } from '../src/engine.ts';
import { HostPromptCache } from '../src/prompt-cache.ts';
import { USEFUL_PREFIX_TOKENS } from '../src/sequence-pool.ts';
import { metricsText, sample, startWorker, testModelPath } from './support.ts';
import type { WorkerProc } from './support.ts';

const MODEL = 'gemma-test';
// Shared by every conversation, longer than Gemma 3's 512-token sliding window with the turns: a
// saved state then lacks the window's early cells, which the host cache must account for.
const SYSTEM = `You answer questions about the city library. ${Array.from({ length: 24 }, (_, i) => `Rule ${i + 1}: room ${i + 1} opens at ${8 + (i % 5)} and closes at ${17 + (i % 3)}, lends ${['books', 'films', 'music', 'maps'][i % 4]} and asks for a card.`).join(' ')}`;
const QUESTIONS = ['When does room 3 open?', 'Can I borrow maps?', 'Where are the films?', 'Is a card needed?', 'Who lends music?', 'What closes last?', 'How many rooms?', 'Which room is first?'];
const FOLLOW_UPS = ['And on Sunday?', 'Why?'];
const TOKENS = 8;

const dirs: string[] = [];
const tempDir = () => { const d = mkdtempSync(join(tmpdir(), 'qwen-prompt-cache-')); dirs.push(d); return d; };
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('sequence choice and the host cache (in process)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load({ modelPath: testModelPath(), parallel: 3, queueSize: 3, contextSize: 2048, threads: 2, gpu: false });
  }, 60_000);
  afterAll(async () => { await engine?.dispose(); });

  const ac = new AbortController();
  const prompt = (topic: string) => engine.tokenizeCompletion(`${topic}: ${Array.from({ length: 30 }, (_, i) => `${topic} fact ${i + 1} is ${i * 7 % 11}.`).join(' ')}`);
  const more = (p: Token[], text = ' Next fact:') => [...p, ...engine.tokenizeCompletion(text).slice(1)];
  const greedy = (seq: LlamaContextSequence, tokens: Token[], reusePrefix: boolean) => engine.generate(seq, {
    tokens, maxTokens: 6, temperature: 0, topP: undefined, seed: undefined, stop: [], signal: ac.signal, reusePrefix,
  });
  /** One request the way the server runs it: acquire, assign, generate a token, release. */
  const run = async (tokens: Token[]) => {
    const seq = await engine.acquire(ac.signal);
    const a = await engine.assignSequence(seq, tokens);
    try {
      const r = await engine.generate(a.sequence, { tokens, maxTokens: 1, temperature: 0, topP: undefined, seed: undefined, stop: [], signal: ac.signal });
      return { sequence: a.sequence, cached: r.cachedTokens };
    } finally { engine.release(a.sequence); }
  };

  it('never takes a sequence holding another long prompt while an empty one is free, then takes the least recently used', async () => {
    const [a, b, c, d] = [prompt('Apples'), prompt('Boats'), prompt('Clouds'), prompt('Dunes')];
    expect(a.length).toBeGreaterThan(USEFUL_PREFIX_TOKENS * 2);
    const ra = await run(a);
    const rb = await run(b);
    const rc = await run(c);
    // Three sequences, three prompts sharing only their first tokens: each on its own sequence
    // (before: each took the one holding the previous prompt, which shared those first tokens).
    expect(new Set([ra.sequence, rb.sequence, rc.sequence]).size).toBe(3);
    // None empty now: the least recently used (a's) goes; b and c keep their prefix.
    expect((await run(d)).sequence).toBe(ra.sequence);
    const rb2 = await run(more(b));
    expect(rb2.sequence).toBe(rb.sequence);
    expect(rb2.cached).toBeGreaterThanOrEqual(b.length - 1);
    expect((await run(more(c))).cached).toBeGreaterThanOrEqual(c.length - 1);
  }, 120_000);

  it('host cache: clears files left by an earlier run, restores a state (same greedy tokens), keeps one copy per prefix, evicts by bytes', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'left-by-a-previous-run.kvstate'), 'x');
    const sizes: [number, number][] = [];
    let evictions = 0;
    const events = { onSize: (b: number, n: number) => { sizes.push([b, n]); }, onEviction: () => { evictions++; } };
    const swa = engine.model.fileInsights.swaSize ?? 0;
    const seq = await engine.acquire(ac.signal);
    try {
      const probe = await HostPromptCache.open(dir, 1 << 30, swa, events);
      expect(readdirSync(dir)).toEqual([]);
      const prompts = ['Fjords', 'Geysers', 'Hills'].map(prompt);
      await greedy(seq, prompts[0]!, false);
      await probe.save(seq);
      const one = probe.size.bytes;
      expect(one).toBeGreaterThan(0);
      await probe.clear();
      expect(readdirSync(dir)).toEqual([]);

      // Room for two of these states.
      const host = await HostPromptCache.open(dir, Math.floor(2.5 * one), swa, events);
      for (const p of prompts) {
        await greedy(seq, p, false);
        await host.save(seq);
      }
      expect(host.size.entries).toBe(2);
      expect(evictions).toBe(1);
      expect(sizes.at(-1)).toEqual([host.size.bytes, 2]);
      expect(readdirSync(dir)).toHaveLength(2);
      // The least recently used went: the first prompt finds no more than its first token.
      expect(host.best(more(prompts[0]!))!.prefix).toBeLessThan(USEFUL_PREFIX_TOKENS);
      // The same conversation going on (its state, generated tokens included, then more): the
      // longer state replaces the shorter one, which is not an eviction.
      const saved = seq.contextTokens.slice();
      await greedy(seq, more(saved, ' Fact 31 is 3.'), true);
      await host.save(seq);
      expect(host.size.entries).toBe(2);
      expect(evictions).toBe(1);
      expect(host.covers(saved)).toBe(true);
      expect(readdirSync(dir)).toHaveLength(2);

      const next = more(prompts[1]!);
      const hit = host.best(next)!;
      expect(hit.prefix).toBe(prompts[1]!.length);
      await seq.clearHistory();
      await host.restore(seq, hit.entry);
      const fromRestore = await greedy(seq, next, true);
      expect(fromRestore.cachedTokens).toBe(prompts[1]!.length);
      // The same greedy continuation as evaluating the whole prompt from scratch.
      expect((await greedy(seq, next, false)).text).toBe(fromRestore.text);
      await host.clear();
      expect(readdirSync(dir)).toEqual([]);
    } finally { engine.release(seq); }
  }, 180_000);

  it('uses a saved state longer than the sliding window only from its end, and counts it as covering only itself', async () => {
    const swa = engine.model.fileInsights.swaSize ?? 0;
    expect(swa).toBeGreaterThan(0);
    const host = await HostPromptCache.open(tempDir(), 1 << 30, swa, { onSize: () => {}, onEviction: () => {} });
    const long = Array.from({ length: swa + 100 }, (_, i) => (1000 + i) as Token);
    const entry = { tokens: long, file: '', bytes: 0, lastUsed: 0, readers: 0, evicted: false };
    expect(host.usablePrefix(entry, [...long, 7 as Token])).toBe(long.length);
    expect(host.usablePrefix(entry, [...long.slice(0, -1), 7 as Token, 8 as Token])).toBe(long.length - 1);
    // Diverging earlier would attend to cells the saved state does not have.
    expect(host.usablePrefix(entry, [...long.slice(0, -20), 7 as Token])).toBe(0);
    const short = long.slice(0, swa - 10);
    expect(host.usablePrefix({ ...entry, tokens: short }, [...short.slice(0, 50), 7 as Token])).toBe(50);
    // A saved state past the window covers (makes a save redundant for) only itself: a prompt
    // continuing an earlier point of it could not use it (the bench's replayed conversations).
    const seq = await engine.acquire(ac.signal);
    try {
      const tokens = prompt('Kelp').concat(prompt('Lakes').slice(1), prompt('Moors').slice(1));
      expect(tokens.length).toBeGreaterThan(swa + 20);
      await greedy(seq, tokens, false);
      await host.save(seq);
      expect(host.covers(seq.contextTokens)).toBe(true);
      expect(host.covers(tokens.slice(0, -10))).toBe(false);
      expect(host.covers(tokens.slice(0, swa - 10))).toBe(false);
    } finally { engine.release(seq); await host.clear(); }
  }, 180_000);
});

type Turn = { cached: number; prompt: number; tokens: OpenAI.ChatCompletionTokenLogprob[] };

/**
 * Conversations interleaved one request at a time: turn t of every conversation, then turn t + 1.
 * Each answer is appended to its history, as a chat client does.
 */
async function interleave(w: WorkerProc, conversations: number, turns: number): Promise<Turn[][]> {
  const client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const histories: OpenAI.ChatCompletionMessageParam[][] = Array.from({ length: conversations }, (_, c) => [
    { role: 'system', content: SYSTEM }, { role: 'user', content: QUESTIONS[c % QUESTIONS.length]! },
  ]);
  const out: Turn[][] = histories.map(() => []);
  for (let t = 0; t < turns; t++) {
    for (const [c, h] of histories.entries()) {
      if (t > 0) h.push({ role: 'user', content: FOLLOW_UPS[(t - 1) % FOLLOW_UPS.length]! });
      const r = await client.chat.completions.create({ model: MODEL, messages: h, max_tokens: TOKENS, temperature: 0, logprobs: true, top_logprobs: 2 });
      h.push({ role: 'assistant', content: r.choices[0]!.message.content ?? '' });
      out[c]!.push({ cached: r.usage!.prompt_tokens_details!.cached_tokens!, prompt: r.usage!.prompt_tokens, tokens: r.choices[0]!.logprobs!.content! });
    }
  }
  return out;
}

/** From turn 2 on, the reused prefix covers the whole previous prompt of the conversation (its history). */
function expectHistoryCached(turns: Turn[][]): void {
  for (const conv of turns) {
    for (let t = 1; t < conv.length; t++) {
      expect(conv[t]!.cached).toBeGreaterThanOrEqual(conv[t - 1]!.prompt);
      expect(conv[t]!.cached).toBeLessThan(conv[t]!.prompt);
    }
  }
}

const args = (parallel: number, extra: string[] = []) => ['--model', testModelPath(), '--model-name', MODEL, '--parallel', String(parallel), '--context-size', '2048', '--gpu', 'false', ...extra];
const PARALLEL = 2;

describe('interleaved conversations through the worker', () => {
  let reference: Turn[][];

  it(`N = parallel (${PARALLEL}) conversations, no host cache: each keeps its sequence, turns 2+ reuse the whole history`, async () => {
    const w = await startWorker(args(PARALLEL));
    try {
      expectHistoryCached(await interleave(w, PARALLEL, 3));
      // The reference for the greedy outputs below, on the same worker: more conversations than
      // sequences and no host cache, so their histories are evaluated again.
      reference = await interleave(w, 4 * PARALLEL, 2);
      expect(reference.filter((conv) => conv[1]!.cached < conv[0]!.prompt).length).toBeGreaterThanOrEqual(4 * PARALLEL - PARALLEL);
    } finally { await w.stop(); }
  }, 600_000);

  it('N = 4 x parallel conversations with the host cache: turns 2+ reuse the whole history, greedy outputs unchanged, metrics', async () => {
    const dir = tempDir();
    const w = await startWorker(args(PARALLEL, ['--prompt-cache-bytes', String(512 * 1024 * 1024), '--prompt-cache-dir', dir]));
    try {
      const got = await interleave(w, 4 * PARALLEL, 2);
      expectHistoryCached(got);
      // Same greedy tokens as without the cache, up to a near-tie of the reference (top two within
      // 0.05 nats: either is a correct greedy pick, and batch shapes move the last bits of logits).
      let compared = 0;
      for (const [c, conv] of got.entries()) {
        for (const [t, turn] of conv.entries()) {
          const ref = reference[c]![t]!;
          let same = true;
          for (const [k, r] of ref.tokens.entries()) {
            // The near-tie token itself is not compared either: either pick is correct there.
            const [a, b] = r.top_logprobs;
            if (a && b && a.logprob - b.logprob < 0.05) { same = false; break; }
            expect(turn.tokens[k]?.token).toBe(r.token);
            compared++;
          }
          // After a near-tie the histories may differ: the rest of this conversation is not compared.
          if (!same) break;
        }
      }
      expect(compared).toBeGreaterThanOrEqual(4 * PARALLEL * TOKENS);
      const m = await metricsText(w.url);
      const v = (series: string) => sample(m, series) ?? NaN;
      const conversations = 4 * PARALLEL;
      // Turns 2+ of the conversations no sequence held any more came from the host cache.
      expect(v(`gen_ai_server_prompt_cache_hits_total{model="${MODEL}",where="host"}`)).toBeGreaterThanOrEqual(conversations - PARALLEL);
      expect(v(`gen_ai_server_prompt_cache_reused_tokens_total{model="${MODEL}",where="host"}`)).toBeGreaterThan(0);
      // Turn 1 of every conversation after the first reuses the system prompt some sequence holds.
      expect(v(`gen_ai_server_prompt_cache_hits_total{model="${MODEL}",where="sequence"}`)).toBeGreaterThanOrEqual(conversations - 1);
      expect(v(`gen_ai_server_prompt_cache_host_bytes{model="${MODEL}"}`)).toBeGreaterThan(0);
      expect(v(`gen_ai_server_prompt_cache_host_entries{model="${MODEL}"}`)).toBeGreaterThanOrEqual(conversations - PARALLEL);
      expect(v(`gen_ai_server_prompt_cache_host_evictions_total{model="${MODEL}"}`)).toBe(0);
      expect(w.logs.filter((l) => l.msg === 'request' && l.cache_restored === true).length).toBeGreaterThanOrEqual(conversations - PARALLEL);
    } finally { await w.stop(); }
    // A drained worker leaves no state behind.
    expect(readdirSync(dir)).toEqual([]);
  }, 600_000);
});

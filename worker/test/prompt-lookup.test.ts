// Prompt-lookup decoding ([P3], prompt-lookup.ts) on the real test model: the same greedy tokens
// with drafts from the prompt as without, drafts that are accepted on a copying answer, the draft
// tokens left in the KV cache dropped (a reused prefix continues as if there were no drafts), and
// the drafted/accepted counters of a worker.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import { METRIC } from '../src/contract.ts';
import { Engine } from '../src/engine.ts';
import type { GenerateResult, TokenLogprob } from '../src/engine.ts';
import { metricsText, sample, startWorker, testModelPath } from './support.ts';
import type { WorkerProc } from './support.ts';

const TEXT = 'The river town of Ashford grew up around a wooden bridge that merchants crossed on their way to the coast. '
  + 'In the spring the water rose over the lower streets, and the families who lived there moved their goods to the upper floors until the flood went down again.';
// The test model is a base model: an example pair makes it copy.
const COPY = `Copy the text exactly.\n\nText:\nThe cat sat on the mat. It was warm.\n\nCopy:\nThe cat sat on the mat. It was warm.\n\nText:\n${TEXT}\n\nCopy:\n`;

/**
 * Asserts the same tokens as the reference up to its first near-tie (top two within 0.05 nats):
 * llama.cpp sums in another order for another batch shape (a 2-token draft batch, a kept prefix),
 * so a near-tie may flip and the texts part there, both correct. Returns the tokens compared.
 */
function expectSameUpToNearTie(got: TokenLogprob[], ref: TokenLogprob[]): number {
  let n = 0;
  for (const [i, r] of ref.entries()) {
    const [a, b] = r.top;
    if (a && b && a[1] - b[1] < 0.05) break;
    expect(got[i]?.token).toBe(r.token);
    n++;
  }
  return n;
}
const TOKENS = 40;

describe('prompt-lookup decoding (in process)', () => {
  let on: Engine;
  let off: Engine;
  beforeAll(async () => {
    const opts = { modelPath: testModelPath(), parallel: 1, queueSize: 1, contextSize: 1024, threads: 2, gpu: false as const };
    on = await Engine.load({ ...opts, promptLookup: 'on' });
    off = await Engine.load({ ...opts, promptLookup: 'off' });
  }, 300_000);
  afterAll(async () => { await on?.dispose(); await off?.dispose(); });

  const ac = new AbortController();
  const run = async (engine: Engine, tokens: Token[], maxTokens = TOKENS): Promise<GenerateResult & { seq: LlamaContextSequence }> => {
    const seq = await engine.acquire(ac.signal);
    try {
      const r = await engine.generate(seq, { tokens, maxTokens, temperature: 0, topP: undefined, seed: undefined, stop: [], signal: ac.signal, logprobs: 2 });
      return { ...r, seq };
    } finally { engine.release(seq); }
  };

  it('generates the same greedy text with drafts from the prompt as without, and the drafts are accepted', async () => {
    const prompt = on.tokenizeCompletion(COPY);
    const plain = await run(off, prompt);
    const drafted = await run(on, prompt);
    // The model copies (what the workload is about), so drafting has something to find.
    expect(plain.text.length).toBeGreaterThan(40);
    expect(TEXT).toContain(plain.text.trim().slice(0, 40));
    expect(expectSameUpToNearTie(drafted.logprobs!, plain.logprobs!)).toBeGreaterThan(TOKENS / 2);
    expect(plain.speculative).toBeUndefined();
    expect(drafted.speculative!.drafted).toBeGreaterThan(0);
    expect(drafted.speculative!.accepted).toBeGreaterThan(TOKENS / 4);
    expect(drafted.speculative!.accepted).toBeLessThanOrEqual(drafted.speculative!.drafted);
    // Fewer decode steps than tokens: accepted drafts came in the batches of earlier tokens.
    expect(drafted.seq.tokenPredictions.validated).toBeGreaterThan(0);
  }, 600_000);

  it('drops accepted draft tokens the generation did not reach: the saved state holds only its tokens, a reused prefix continues as without drafts', async () => {
    const prompt = on.tokenizeCompletion(COPY);
    // Stopped a dozen tokens in, while an accepted draft beyond it may sit in the KV cache.
    const short = await run(on, prompt, 12);
    const plain = await run(off, prompt, 12);
    expect(short.speculative!.accepted).toBeGreaterThan(0);
    expectSameUpToNearTie(short.logprobs!, plain.logprobs!);
    expect(short.seq.contextTokens.length).toBe(plain.seq.contextTokens.length);
    // What the host cache saves (prompt-cache.ts): cells of draft tokens would come along and, once
    // restored, sit at the positions the next tokens take.
    const dir = mkdtempSync(join(tmpdir(), 'qwen-prompt-lookup-'));
    try {
      const a = await short.seq.saveStateToFile(join(dir, 'on.kvstate'));
      const b = await plain.seq.saveStateToFile(join(dir, 'off.kvstate'));
      expect(a.fileSize).toBe(b.fileSize);
    } finally { rmSync(dir, { recursive: true, force: true }); }
    // The next request goes on from that state (prefix reuse) with other text.
    const next = [...prompt, ...on.tokenizeCompletion(`${short.text} and then the bridge fell into the river`).slice(1)];
    const c = await run(on, next, 12);
    expect(c.cachedTokens).toBeGreaterThanOrEqual(prompt.length);
    expectSameUpToNearTie(c.logprobs!, (await run(off, next, 12)).logprobs!);
  }, 600_000);
});

describe('prompt-lookup decoding (worker)', () => {
  let w: WorkerProc;
  beforeAll(async () => {
    w = await startWorker(['--model', testModelPath(), '--model-name', 'gemma-test', '--prompt-lookup', 'auto', '--gpu', 'false']);
  }, 300_000);
  afterAll(async () => { await w?.stop(); });

  it('counts drafted and accepted tokens, and logs them per request', async () => {
    const body = { model: 'gemma-test', prompt: COPY, max_tokens: TOKENS, temperature: 0 };
    const res = await fetch(`${w.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    const text = await metricsText(w.url);
    const drafted = sample(text, `${METRIC.speculativeDraftedTokens}{model="gemma-test"}`);
    const accepted = sample(text, `${METRIC.speculativeAcceptedTokens}{model="gemma-test"}`);
    expect(drafted).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThanOrEqual(drafted!);
    const line = w.logs.find((l) => l.msg === 'request' && l.path === '/v1/completions');
    expect(line?.accepted_tokens).toBe(accepted);
  }, 600_000);
});

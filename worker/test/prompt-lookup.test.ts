// Prompt-lookup decoding ([P3], prompt-lookup.ts) on the real test model, through two workers
// (`--prompt-lookup on` and `off`; worker processes: one libuv pool thread, as in production):
// the same greedy tokens with drafts from the prompt as without, drafts accepted on a copying
// answer, the counters and log fields, and accepted draft tokens left beyond the end of a
// generation dropped before the host cache saves the state (the saved bytes equal a plain
// generation's, and a conversation restored from it continues as without drafts).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { METRIC } from '../src/contract.ts';
import { metricsText, sample, startWorker, testModelPath } from './support.ts';
import type { WorkerProc } from './support.ts';

const MODEL = 'gemma-test';
const TEXT = 'The river town of Ashford grew up around a wooden bridge that merchants crossed on their way to the coast. '
  + 'In the spring the water rose over the lower streets, and the families who lived there moved their goods to the upper floors until the flood went down again.';
// The test model is a base model: an example pair makes it copy.
const COPY = `Copy the text exactly.\n\nText:\nThe cat sat on the mat. It was warm.\n\nCopy:\nThe cat sat on the mat. It was warm.\n\nText:\n${TEXT}\n\nCopy:\n`;
const OTHER = `A list of rivers and their towns. ${Array.from({ length: 30 }, (_, i) => `River ${i + 1} runs through town ${(i * 7) % 13}.`).join(' ')}`;

type Completion = { text: string; tokens: string[]; top: Record<string, number>[]; cached: number };

async function complete(w: WorkerProc, prompt: string, maxTokens: number): Promise<Completion> {
  const res = await fetch(`${w.url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt, max_tokens: maxTokens, temperature: 0, logprobs: 2 }),
  });
  expect(res.status).toBe(200);
  const j = await res.json() as {
    choices: { text: string; logprobs: { tokens: string[]; top_logprobs: Record<string, number>[] } }[];
    usage: { prompt_tokens_details?: { cached_tokens?: number } };
  };
  const c = j.choices[0]!;
  return { text: c.text, tokens: c.logprobs.tokens, top: c.logprobs.top_logprobs, cached: j.usage.prompt_tokens_details?.cached_tokens ?? 0 };
}

/**
 * Asserts the same tokens as the reference up to its first near-tie (top two within 0.05 nats):
 * llama.cpp sums in another order for another batch shape (a 2-token draft batch, a kept prefix),
 * so a near-tie may flip and the texts part there, both correct. Returns the tokens compared.
 */
function expectSameUpToNearTie(got: Completion, ref: Completion): number {
  let n = 0;
  for (const [i, token] of ref.tokens.entries()) {
    const [a, b] = Object.values(ref.top[i] ?? {}).sort((x, y) => y - x);
    if (a !== undefined && b !== undefined && a - b < 0.05) break;
    expect(got.tokens[i]).toBe(token);
    n++;
  }
  return n;
}

describe('prompt-lookup decoding', () => {
  let on: WorkerProc;
  let off: WorkerProc;
  const dirs: string[] = [];
  beforeAll(async () => {
    const args = (lookup: string) => {
      const dir = mkdtempSync(join(tmpdir(), 'qwen-prompt-lookup-'));
      dirs.push(dir);
      return ['--model', testModelPath(), '--model-name', MODEL, '--gpu', 'false', '--threads', '1', '--context-size', '1024',
        '--prompt-lookup', lookup, '--prompt-cache-bytes', String(256 * 1024 * 1024), '--prompt-cache-dir', dir];
    };
    [on, off] = await Promise.all([startWorker(args('on'), { timeoutMs: 300_000 }), startWorker(args('off'), { timeoutMs: 300_000 })]);
  }, 320_000);
  afterAll(async () => {
    await Promise.all([on?.stop(), off?.stop()]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('generates the same greedy tokens with drafts from the prompt as without, counts drafted and accepted tokens', async () => {
    const plain = await complete(off, COPY, 40);
    const drafted = await complete(on, COPY, 40);
    // The model copies (what the workload is about), so drafting has something to find.
    expect(TEXT).toContain(plain.text.trim().slice(0, 40));
    expect(expectSameUpToNearTie(drafted, plain)).toBeGreaterThan(20);
    const m = await metricsText(on.url);
    const d = sample(m, `${METRIC.speculativeDraftedTokens}{model="${MODEL}"}`)!;
    const a = sample(m, `${METRIC.speculativeAcceptedTokens}{model="${MODEL}"}`)!;
    expect(d).toBeGreaterThan(0);
    expect(a).toBeGreaterThan(10);
    expect(a).toBeLessThanOrEqual(d);
    expect(sample(await metricsText(off.url), `${METRIC.speculativeDraftedTokens}{model="${MODEL}"}`)).toBe(0);
    // The log line is written once the response has gone: wait for it.
    for (let i = 0; i < 100 && !on.logs.some((l) => l.msg === 'request'); i++) await new Promise((r) => setTimeout(r, 100));
    const line = on.logs.find((l) => l.msg === 'request' && l.path === '/v1/completions');
    expect(line?.accepted_tokens).toBe(a);
  }, 600_000);

  it('drops accepted draft tokens the generation did not reach: the saved state is a plain one, and continues as without drafts', async () => {
    // A new prompt stopped 13 tokens in, with an accepted draft beyond it in the KV cache (at 11 or
    // 13 tokens the last step's accepted draft is not reached, at 12 it is; without the erase the
    // file is 18 KB, one token's cells, larger); the host cache saves the state when the request ends.
    const prompt = `${COPY.replace('river town', 'harbour town')}`;
    const bytes = async (w: WorkerProc) => sample(await metricsText(w.url), `${METRIC.promptCacheHostBytes}{model="${MODEL}"}`)!;
    const [on0, off0] = [await bytes(on), await bytes(off)];
    const a = await complete(on, prompt, 13);
    const b = await complete(off, prompt, 13);
    expectSameUpToNearTie(a, b);
    // Saved off the request's path: wait for both files.
    for (let i = 0; i < 100 && ((await bytes(on)) === on0 || (await bytes(off)) === off0); i++) await new Promise((r) => setTimeout(r, 100));
    // Cells of draft tokens would come along in the file (and, once restored, sit where the next tokens go).
    expect((await bytes(on)) - on0).toBe((await bytes(off)) - off0);
    // Another prompt takes the one sequence; the conversation then comes back from the host cache.
    await complete(on, OTHER, 2);
    const next = `${prompt}${a.text} and then the bridge fell into the river`;
    const c = await complete(on, next, 12);
    expect(c.cached).toBeGreaterThan(100);
    expect(sample(await metricsText(on.url), `${METRIC.promptCacheHits}{model="${MODEL}",where="host"}`)).toBe(1);
    expectSameUpToNearTie(c, await complete(off, next, 12));
  }, 600_000);
});

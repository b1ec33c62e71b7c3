// What one request may ask of the event loop, refused when it is parsed (before it takes a queue
// place): stop strings (count and length) and the size of the grammars it would compile, counted
// as llama.cpp expands them and summed over response_format and every tool.
import { describe, expect, it } from '@jest/globals';
import { ApiError } from '../src/api-error.ts';
import { parseChatRequest, parseCompletionRequest } from '../src/openai.ts';
import { MAX_STOP_CHARS } from '../src/request-schema.ts';
import { GrammarBudget, MAX_REPETITION } from '../src/schema.ts';

const err = (f: () => unknown) => { try { f(); } catch (e) { return e as ApiError; } throw new Error('no error'); };
const m = [{ role: 'user', content: 'x' }];
const rf = (schema: unknown) => ({ messages: m, response_format: { type: 'json_schema', json_schema: { name: 's', schema } } });
const props = (n: number, f: (i: number) => unknown) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, f(i)]));
const tool = (i: number, parameters: unknown) => ({ type: 'function', function: { name: `f${i}`, parameters } });

describe('stop strings', () => {
  it(`accepts up to 4 strings of up to ${MAX_STOP_CHARS} characters`, () => {
    const stop = Array.from({ length: 4 }, () => 'x'.repeat(MAX_STOP_CHARS));
    expect(parseCompletionRequest({ prompt: 'p', stop }).stop).toEqual(stop);
    expect(parseChatRequest({ messages: m, stop: 'y'.repeat(MAX_STOP_CHARS) }).stop).toEqual(['y'.repeat(MAX_STOP_CHARS)]);
  });

  it('refuses a longer one (the measured attack used four of 8,001 characters) and a fifth', () => {
    for (const stop of ['x'.repeat(MAX_STOP_CHARS + 1), ['a', 'x'.repeat(8001)]]) {
      expect(err(() => parseCompletionRequest({ prompt: 'p', stop })).body().error).toEqual({
        message: `'stop' strings may be at most ${MAX_STOP_CHARS} characters long`, type: 'invalid_request_error', param: 'stop', code: 'invalid_value',
      });
    }
    expect(err(() => parseChatRequest({ messages: m, stop: ['a', 'b', 'c', 'd', 'e'] })).body().error)
      .toMatchObject({ message: "'stop' must be a string or an array of up to 4 strings", param: 'stop' });
  });
});

describe('grammar size', () => {
  it('accepts a large but bounded schema', () => {
    // About 14,000 rules: 7 strings of up to ~2,000 characters.
    expect(() => parseChatRequest(rf({ type: 'object', properties: props(7, (i) => ({ type: 'string', maxLength: 1999 - i })) }))).not.toThrow();
  });

  it.each([
    ['many properties × large maxLength', rf({ type: 'object', properties: props(100, () => ({ type: 'string', maxLength: 1999 })) }),
      /^response_format\.json_schema\.schema\.properties\.p\d+\.maxLength$/],
    ['maxItems on many arrays', rf({ type: 'object', properties: props(20, () => ({ type: 'array', items: { type: 'number' }, maxItems: 1000 })) }),
      /^response_format\.json_schema\.schema\.properties\.p\d+\.maxItems$/],
    ['a huge enum', rf({ enum: Array.from({ length: 10_000 }, (_, i) => `v${i}`) }), /^response_format\.json_schema\.schema\.enum$/],
    ['a huge const', rf({ const: 'x'.repeat(2_000_000) }), /^response_format\.json_schema\.schema\.const$/],
    ['128 tools merged into one oneOf (tool_choice required)', { messages: m, tool_choice: 'required',
      tools: Array.from({ length: 128 }, (_, t) => tool(t, { type: 'object', properties: props(40, () => ({ type: 'string', maxLength: 10 })) })) },
    /^tools\[\d+\]\.function\.parameters\.properties/],
    ['128 tools offered (tool_choice auto)', { messages: m,
      tools: Array.from({ length: 128 }, (_, t) => tool(t, { type: 'object', properties: props(100, () => ({ type: 'integer' })) })) },
    /^tools\[\d+\]\.function\.parameters\.properties/],
  ])('refuses %s with a 400 naming the limit and where it was crossed', (_name, body, param) => {
    const e = err(() => parseChatRequest(body));
    expect(e).toBeInstanceOf(ApiError);
    expect(e.body().error).toMatchObject({ type: 'invalid_request_error', code: 'grammar_too_large', param: expect.stringMatching(param) });
    expect(e.message).toContain(`over its limit of ${GrammarBudget.MAX_RULES} rules`);
  });

  it(`refuses repetition bounds llama.cpp would not enforce (over ${MAX_REPETITION})`, () => {
    for (const [schema, param] of [
      [{ type: 'string', maxLength: MAX_REPETITION + 1 }, 'maxLength'],
      [{ type: 'string', minLength: 1_000_000 }, 'minLength'],
      [{ type: 'array', maxItems: 5000 }, 'maxItems'],
      [{ type: 'object', additionalProperties: true, maxProperties: 10_000 }, 'maxProperties'],
    ] as const) {
      expect(err(() => parseChatRequest(rf(schema))).body().error).toMatchObject({
        param: `response_format.json_schema.schema.${param}`, code: 'unsupported_schema',
        message: expect.stringContaining(`between 0 and ${MAX_REPETITION}`),
      });
    }
  });
});

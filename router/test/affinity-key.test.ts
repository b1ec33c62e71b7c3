// The affinity key is the part of a request that the conversation's later turns repeat: every turn
// of one conversation has the same key, different conversations (or models) have different keys.
import { describe, expect, it } from '@jest/globals';
import { affinityKey, PROMPT_KEY_CHARS } from '../src/affinity-key.ts';
import { FirstContentDetector } from '../src/first-content.ts';

const sys = { role: 'system', content: 'You are terse.' };
const u1 = { role: 'user', content: 'What is Rome?' };
const turn = (n: number) => {
  const msgs: unknown[] = [sys, u1];
  for (let i = 1; i < n; i++) msgs.push({ role: 'assistant', content: `answer ${i}` }, { role: 'user', content: `follow-up ${i}` });
  return { model: 'm', messages: msgs, temperature: n / 10, max_tokens: n };
};

describe('affinity key', () => {
  it('every turn of a chat has the first turn\'s key (sampling parameters aside)', () => {
    const k = affinityKey('chat', turn(1));
    expect(k).toBeDefined();
    for (let n = 2; n <= 6; n++) expect(affinityKey('chat', turn(n))).toBe(k);
    expect(affinityKey('chat', { ...turn(3), tools: [{ type: 'function', function: { name: 'f' } }], stream: true })).toBe(k);
  });

  it('differs by model, system prompt and first user message', () => {
    const k = affinityKey('chat', turn(2));
    expect(affinityKey('chat', { ...turn(2), model: 'other' })).not.toBe(k);
    expect(affinityKey('chat', { model: 'm', messages: [{ role: 'system', content: 'You are verbose.' }, u1] })).not.toBe(k);
    expect(affinityKey('chat', { model: 'm', messages: [sys, { role: 'user', content: 'What is Paris?' }] })).not.toBe(k);
    // Content parts count as they are written.
    expect(affinityKey('chat', { model: 'm', messages: [sys, { role: 'user', content: [{ type: 'text', text: 'What is Rome?' }] }] })).not.toBe(k);
  });

  it('developer messages count like system ones; a conversation starting with an assistant turn still has a key', () => {
    expect(affinityKey('chat', { model: 'm', messages: [{ role: 'developer', content: 'x' }, u1] })).toBeDefined();
    expect(affinityKey('chat', { model: 'm', messages: [{ role: 'assistant', content: 'hi' }] })).toBeUndefined();
    expect(affinityKey('chat', { model: 'm', messages: [sys, { role: 'assistant', content: 'hi' }] })).toBe(affinityKey('chat', { model: 'm', messages: [sys] }));
  });

  it('completions: the first characters of the prompt', () => {
    const head = 'x'.repeat(PROMPT_KEY_CHARS);
    const k = affinityKey('completion', { model: 'm', prompt: `${head} turn one` });
    expect(affinityKey('completion', { model: 'm', prompt: `${head} turn one, then turn two` })).toBe(k);
    expect(affinityKey('completion', { model: 'm', prompt: ['y'.repeat(PROMPT_KEY_CHARS)] })).not.toBe(k);
    expect(affinityKey('completion', { model: 'm', prompt: [1, 2, 3] })).toBe(affinityKey('completion', { model: 'm', prompt: [1, 2, 3] }));
  });

  it.each([
    ['no body object', 'chat', 'text'],
    ['no messages', 'chat', { model: 'm' }],
    ['messages not a list', 'chat', { messages: 'hi' }],
    ['an empty prompt', 'completion', { prompt: '' }],
    ['embeddings', 'other', { model: 'm', input: 'hi' }],
  ] as const)('none for %s', (_what, kind, body) => {
    expect(affinityKey(kind, body)).toBeUndefined();
  });
});

describe('first content of an event stream', () => {
  const ev = (o: unknown) => Buffer.from(`data: ${JSON.stringify(o)}\n\n`);
  it('skips the opening role chunk, finds the first text, across chunk boundaries', () => {
    const d = new FirstContentDetector();
    expect(d.push(ev({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }))).toBe(false);
    const text = ev({ choices: [{ index: 0, delta: { content: 'Hé' }, finish_reason: null }] });
    const cut = text.indexOf(0xc3) + 1; // inside the two bytes of é
    expect(d.push(text.subarray(0, cut))).toBe(false);
    expect(d.push(text.subarray(cut))).toBe(true);
    expect(d.seen).toBe(true);
  });
  it.each([
    ['completions text', { choices: [{ index: 0, text: 'a', finish_reason: null }] }],
    ['a tool call', { choices: [{ index: 0, delta: { tool_calls: [{ index: 0 }] }, finish_reason: null }] }],
    ['a finish reason', { choices: [{ index: 0, delta: {}, finish_reason: 'length' }] }],
    ['an error', { error: { message: 'x' } }],
  ])('counts %s as content', (_what, o) => {
    expect(new FirstContentDetector().push(ev(o))).toBe(true);
  });
});

// The model facts the workers report, as Prometheus answers them, into the facts sizing uses
// (src/slastatus/model-facts.ts): what is accepted, and what from a pod is refused.
import { describe, expect, it } from '@jest/globals';
import { checkQwenService } from '../../../src/api/validate.ts';
import type { ModelFacts } from '../../../src/sizing/facts.ts';
import type { Sample } from '../../../src/slastatus/prometheus.ts';
import { modelFactsQuery, parseModelFacts, sourceFileName } from '../../../src/slastatus/model-facts.ts';

// The test model's facts, as `qwen-operator size --model-file` reads them.
const GEMMA: ModelFacts = {
  architecture: 'gemma3', quantization: 'Q4_K_M', parameters: 268098176, fileSize: 253113024, weightsBytes: 246587904, decodeBytes: 246587904,
  layers: 18, kvHeads: 1, heads: 4, headDim: 256, valueHeadDim: 256, embeddingLength: 640, feedForwardLength: 2048, vocabSize: 262144,
  trainedContext: 32768, slidingWindow: 512,
};

/** The series one worker exports, with the target labels Prometheus adds. */
function series(pod: string, facts: ModelFacts, edit: (s: Sample[]) => Sample[] = (s) => s, file = 'gemma-3-270m-q4_k_m.gguf'): Sample[] {
  const target = { namespace: 'team-a', service: 'chat', pod, model: 'gemma' };
  const { architecture, quantization, ...numbers } = facts;
  return edit([
    { metric: { __name__: 'gen_ai_server_model_info', ...target, file, architecture, quantization }, value: 1 },
    ...Object.entries(numbers).map(([fact, value]) => ({ metric: { __name__: 'gen_ai_server_model_fact', ...target, fact }, value: value as number })),
  ]);
}

describe('parseModelFacts', () => {
  it('gives the facts every worker reports alike', () => {
    expect(parseModelFacts([...series('chat-0', GEMMA), ...series('chat-1', GEMMA)])).toEqual({ facts: GEMMA });
  });

  it('gives nothing when no worker reports (none loaded the model yet)', () => {
    expect(parseModelFacts([])).toBeUndefined();
  });

  it('keeps the optional facts optional', () => {
    const { trainedContext: _t, slidingWindow: _s, ...rest } = GEMMA;
    expect(parseModelFacts(series('chat-0', rest as ModelFacts))).toEqual({ facts: rest });
  });

  it('refuses workers that disagree (a rollout changing the model)', () => {
    expect(parseModelFacts([...series('chat-0', GEMMA), ...series('chat-1', { ...GEMMA, layers: 36 })])).toEqual({ problem: expect.stringContaining('different models') });
  });

  it('counts, for a pvc:// or file:// source, only the workers that loaded a file of its name (not the old ones of a rollout)', () => {
    const old = series('chat-old', { ...GEMMA, layers: 36 }, undefined, 'previous.gguf');
    expect(parseModelFacts([...old, ...series('chat-new', GEMMA)], 'gemma-3-270m-q4_k_m.gguf')).toEqual({ facts: GEMMA });
    expect(parseModelFacts(old, 'gemma-3-270m-q4_k_m.gguf')).toBeUndefined();
    expect(sourceFileName('pvc://models/team/gemma-3-270m-q4_k_m.gguf')).toBe('gemma-3-270m-q4_k_m.gguf');
    expect(sourceFileName('file:///models/gemma-3-270m-q4_k_m.gguf')).toBe('gemma-3-270m-q4_k_m.gguf');
    expect(sourceFileName('hf:unsloth/Qwen3-4B-GGUF:Q4_K_M')).toBeUndefined();
  });

  it.each<[string, (s: Sample[]) => Sample[], RegExp]>([
    ['a missing fact', (s) => s.filter((x) => x.metric.fact !== 'kvHeads'), /kvHeads is missing/],
    ['a fractional fact', (s) => s.map((x) => (x.metric.fact === 'layers' ? { ...x, value: 1.5 } : x)), /layers is 1.5, not a positive whole number/],
    ['a negative fact', (s) => s.map((x) => (x.metric.fact === 'fileSize' ? { ...x, value: -1 } : x)), /fileSize is -1/],
    ['an architecture that is not a name', (s) => s.map((x) => (x.metric.architecture ? { ...x, metric: { ...x.metric, architecture: 'x"} 1\ny{' } } : x)), /architecture .* is not a name/],
    ['no info series', (s) => s.filter((x) => x.metric.__name__ !== 'gen_ai_server_model_info'), /0 gen_ai_server_model_info series/],
  ])('refuses %s, naming the pod', (_what, edit, problem) => {
    const parsed = parseModelFacts(series('chat-0', GEMMA, edit));
    expect(parsed).toEqual({ problem: expect.stringMatching(problem) });
    expect((parsed as { problem: string }).problem).toMatch(/^chat-0: /);
  });
});

describe('modelFactsQuery', () => {
  it('selects both series of the QwenService\'s workers by the labels its ServiceMonitor sets', () => {
    const r = checkQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a' }, spec: { model: { source: 'pvc://models/q.gguf' } } });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(modelFactsQuery(r.value)).toBe('{namespace="team-a",service="chat",__name__=~"gen_ai_server_model_info|gen_ai_server_model_fact"}');
  });
});

// What a request may cost and what it did cost, in tokens. Before it runs: its prompt estimated at
// 4 characters a token plus the completion it allows (max_completion_tokens, max_tokens, or
// DEFAULT_COMPLETION_RESERVE). After: the worker's own `usage` — in the JSON body, or in the last
// SSE chunk that carries it (stream_options.include_usage) — else, for a stream without it, one
// token per content chunk (the worker sends one chunk per token) and the prompt estimate.

/** Completion tokens reserved for a request that sets no max_tokens (refunded what it does not use). */
export const DEFAULT_COMPLETION_RESERVE = 512;
/** The usual English text-to-token ratio: a prompt estimate, not a count (the refund corrects it). */
export const CHARS_PER_TOKEN = 4;

export type Usage = { prompt: number; completion: number; cached: number };

function textOf(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) return v.reduce((n: number, p) => n + textOf(p), 0);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return textOf(o.content) + textOf(o.text) + textOf(o.prompt) + textOf(o.input);
  }
  return 0;
}

/** The tokens a request reserves: its prompt estimate and the completion it allows. */
export function estimateRequest(body: unknown): { prompt: number; completion: number } {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const chars = textOf(b.messages) + textOf(b.prompt) + textOf(b.input);
  const max = [b.max_completion_tokens, b.max_tokens].find((v) => typeof v === 'number' && Number.isInteger(v) && v > 0) as number | undefined;
  return { prompt: Math.ceil(chars / CHARS_PER_TOKEN), completion: max ?? DEFAULT_COMPLETION_RESERVE };
}

function usageOf(json: unknown): Usage | undefined {
  const u = (json as { usage?: unknown } | null)?.usage as Record<string, unknown> | null | undefined;
  if (!u || typeof u.prompt_tokens !== 'number') return undefined;
  const cached = (u.prompt_tokens_details as { cached_tokens?: unknown } | undefined)?.cached_tokens;
  return { prompt: u.prompt_tokens, completion: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0, cached: typeof cached === 'number' ? cached : 0 };
}

/** Reads the usage out of a worker's answer as it passes through (bounded memory for JSON bodies). */
export class UsageReader {
  private readonly stream: boolean;
  private json: Buffer[] = [];
  private jsonBytes = 0;
  private partial = '';
  private found: Usage | undefined;
  private contentChunks = 0;
  private static readonly MAX_JSON = 4 << 20;

  constructor(stream: boolean) { this.stream = stream; }

  push(chunk: Buffer): void {
    if (!this.stream) {
      this.jsonBytes += chunk.length;
      if (this.jsonBytes <= UsageReader.MAX_JSON) this.json.push(chunk);
      return;
    }
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (!line.startsWith('data:')) return;
    const data = line.slice(5).trim();
    if (data === '[DONE]' || data === '') return;
    let json: unknown;
    try { json = JSON.parse(data); } catch { return; }
    const u = usageOf(json);
    if (u) this.found = u;
    const choices = (json as { choices?: unknown[] }).choices;
    if (Array.isArray(choices) && choices.length > 0) this.contentChunks++;
  }

  /** The answer's usage: the worker's, or (a stream without it) content chunks and the prompt estimate. */
  result(promptEstimate: number): Usage | undefined {
    if (!this.stream) {
      if (this.jsonBytes > UsageReader.MAX_JSON) return undefined;
      try { return usageOf(JSON.parse(Buffer.concat(this.json).toString('utf8'))); } catch { return undefined; }
    }
    if (this.partial) { this.line(this.partial); this.partial = ''; }
    return this.found ?? (this.contentChunks > 0 ? { prompt: promptEstimate, completion: this.contentChunks, cached: 0 } : undefined);
  }
}

// The affinity key of a request: the part of its body that every later turn of the same
// conversation repeats, so all its turns hash to the worker that holds its prompt cache.
//   chat:        model + the leading system/developer messages + the first user message
//                (later turns append assistant and user messages after them; tools and sampling
//                parameters are left out, they may change between turns);
//   completions: model + the first PROMPT_KEY_CHARS characters of the prompt (or its first tokens).
// undefined when the body has no such part (no messages, an empty prompt, embeddings...).

/** Characters of a /v1/completions prompt that make its key: a later prompt repeats at least these. */
export const PROMPT_KEY_CHARS = 256;

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function chatPrefix(messages: Json): Json[] | undefined {
  if (!Array.isArray(messages)) return undefined;
  const prefix: Json[] = [];
  for (const m of messages) {
    if (!isObject(m)) return undefined;
    const role = m.role;
    if (role === 'system' || role === 'developer') { prefix.push([role, m.content]); continue; }
    if (role === 'user') { prefix.push([role, m.content]); return prefix; }
    // A conversation that does not start with system messages and a user message (an assistant
    // turn first): its prefix up to here is still repeated by later turns.
    break;
  }
  return prefix.length > 0 ? prefix : undefined;
}

function promptPrefix(prompt: Json): Json | undefined {
  if (typeof prompt === 'string') return prompt === '' ? undefined : prompt.slice(0, PROMPT_KEY_CHARS);
  if (Array.isArray(prompt) && prompt.length > 0) {
    if (prompt.every((t) => typeof t === 'number')) return prompt.slice(0, PROMPT_KEY_CHARS / 4);
    // A batch of prompts: the first one's.
    return promptPrefix(prompt[0]);
  }
  return undefined;
}

export type RouteKind = 'chat' | 'completion' | 'other';

/** The text to hash for `body` of a request of `kind`; undefined: no stable prefix (least outstanding requests). */
export function affinityKey(kind: RouteKind, body: Json): string | undefined {
  if (!isObject(body)) return undefined;
  const model = typeof body.model === 'string' ? body.model : '';
  const prefix = kind === 'chat' ? chatPrefix(body.messages) : kind === 'completion' ? promptPrefix(body.prompt) : undefined;
  return prefix === undefined ? undefined : JSON.stringify([kind, model, prefix]);
}

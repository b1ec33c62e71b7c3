// Compiled JSON-schema grammars, kept by the digest of their schema (least recently used first
// out). Compiling runs synchronously in the native addon, on the event loop: a schema that clients
// send again and again (the usual case: one response_format or one tool set per application) is
// compiled once, and each compilation runs in its own turn of the loop.
import { createHash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { LlamaGrammar } from 'node-llama-cpp';
import type { GbnfSchema } from './schema.ts';

export const GRAMMAR_CACHE_ENTRIES = 64;

export class GrammarCache {
  private readonly entries = new Map<string, Promise<LlamaGrammar>>();
  private readonly compile: (schema: GbnfSchema) => Promise<LlamaGrammar>;
  private readonly capacity: number;
  /** Compilations run (cache misses), for the metrics and the tests. */
  compiled = 0;

  constructor(compile: (schema: GbnfSchema) => Promise<LlamaGrammar>, capacity = GRAMMAR_CACHE_ENTRIES) {
    this.compile = compile;
    this.capacity = capacity;
  }

  get size(): number { return this.entries.size; }

  /**
   * The grammar of `schema`. A schema the library refuses is remembered too (its rejection): sent
   * again, it is refused without compiling it again.
   */
  get(schema: GbnfSchema): Promise<LlamaGrammar> {
    // The converted schema is built in a fixed key order from the request: equal text, equal grammar.
    const key = createHash('sha256').update(JSON.stringify(schema)).digest('base64');
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const compiled = (async () => {
      // Not in the turn of whoever asked (that turn already parsed the request body).
      await nextTurn();
      this.compiled++;
      return this.compile(schema);
    })();
    // A rejection is also handled by the caller; this keeps the cached copy from being "unhandled".
    compiled.catch(() => undefined);
    this.entries.set(key, compiled);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return compiled;
  }
}

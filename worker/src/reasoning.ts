// Reasoning models write their thinking between markers (`<think>` ... `</think>` for Qwen3 and
// DeepSeek-R1) before the answer. As llama-server and vLLM do, that part goes to
// `reasoning_content`, the rest to `content`. The splitter works on streamed text, holding back
// only what could still be the start of a marker.

export type ReasoningSink = { reasoning: (text: string) => void; content: (text: string) => void };

/** Holds back the longest tail of `buf` that is a proper prefix of `marker`. */
function partialTail(buf: string, marker: string): number {
  for (let k = Math.min(marker.length - 1, buf.length); k > 0; k--) if (buf.endsWith(marker.slice(0, k))) return k;
  return 0;
}

export class ReasoningSplitter {
  private buf = '';
  private state: 'start' | 'thought' | 'afterThought' | 'content';
  private readonly open: string;
  private readonly close: string;
  private readonly out: ReasoningSink;

  /** `inThought`: the prompt already opened the thought (a template that ends with `<think>`). */
  constructor(out: ReasoningSink, { open = '<think>', close = '</think>', inThought = false } = {}) {
    this.out = out;
    this.open = open;
    this.close = close;
    this.state = inThought ? 'thought' : 'start';
  }

  push(text: string): void {
    this.buf += text;
    for (;;) {
      if (this.state === 'start') {
        const t = this.buf.trimStart();
        if (t.startsWith(this.open)) { this.buf = t.slice(this.open.length); this.state = 'thought'; continue; }
        // Whitespace, or the beginning of the opening marker: wait for more.
        if (this.open.startsWith(t)) return;
        this.state = 'content';
        continue;
      }
      if (this.state === 'thought') {
        const i = this.buf.indexOf(this.close);
        if (i >= 0) {
          const head = this.buf.slice(0, i).trimEnd();
          const r = this.sentReasoning ? head : head.trimStart();
          if (r !== '') this.out.reasoning(r);
          this.buf = this.buf.slice(i + this.close.length);
          this.state = 'afterThought';
          continue;
        }
        // The thought is sent trimmed (as a whole text would be): up to a possible marker start, and
        // trailing whitespace only once more text follows it.
        let hold = partialTail(this.buf, this.close);
        const head = this.buf.slice(0, this.buf.length - hold);
        hold += head.length - head.trimEnd().length;
        const send = this.buf.slice(0, this.buf.length - hold);
        if (send.trim() !== '') {
          this.out.reasoning(this.sentReasoning ? send : send.trimStart());
          this.sentReasoning = true;
          this.buf = this.buf.slice(this.buf.length - hold);
        }
        return;
      }
      if (this.state === 'afterThought') {
        // The blank lines between the thought and the answer belong to neither.
        this.buf = this.buf.trimStart();
        if (this.buf === '') return;
        this.state = 'content';
        continue;
      }
      if (this.buf !== '') this.out.content(this.buf);
      this.buf = '';
      return;
    }
  }

  private sentReasoning = false;

  /** End of the generation: what is held back is flushed where it belongs. */
  end(): void {
    if (this.state === 'thought') {
      const r = this.sentReasoning ? this.buf.trimEnd() : this.buf.trim();
      if (r !== '') this.out.reasoning(r);
    } else if (this.state !== 'afterThought' && this.buf !== '') this.out.content(this.buf);
    this.buf = '';
  }
}

/** Splits a whole text: `{reasoning, content}` (reasoning undefined when there was no thought). */
export function splitReasoning(text: string, opts: { open?: string; close?: string; inThought?: boolean } = {}): { reasoning: string | undefined; content: string } {
  let reasoning: string | undefined;
  let content = '';
  const s = new ReasoningSplitter({ reasoning: (t) => { reasoning = (reasoning ?? '') + t; }, content: (t) => { content += t; } }, opts);
  s.push(text);
  s.end();
  return { reasoning, content };
}

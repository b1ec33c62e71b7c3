// When an event stream first carries generated content. The worker opens a chat stream with an
// empty assistant chunk before it evaluates the prompt, so the first byte is not the first token:
// this reads the stream's events (only until the first content: later chunks are not parsed) and
// says when one carries text, a tool call, a finish reason, an error or [DONE].

const hasContent = (event: string): boolean => {
  for (const line of event.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (data === '[DONE]') return true;
    let j: unknown;
    try { j = JSON.parse(data); } catch { return true; }
    if (typeof j !== 'object' || j === null) return true;
    const o = j as { choices?: unknown; error?: unknown };
    if (o.error !== undefined || !Array.isArray(o.choices)) return true;
    for (const c of o.choices as Record<string, unknown>[]) {
      if (c?.finish_reason !== null && c?.finish_reason !== undefined) return true;
      if (typeof c?.text === 'string' && c.text !== '') return true;
      const d = c?.delta as Record<string, unknown> | undefined;
      if (d && ((typeof d.content === 'string' && d.content !== '') || (typeof d.reasoning_content === 'string' && d.reasoning_content !== '') || d.tool_calls)) return true;
    }
  }
  return false;
};

import { StringDecoder } from 'node:string_decoder';

export class FirstContentDetector {
  private pending = '';
  private readonly decoder = new StringDecoder('utf8');
  private found = false;

  get seen(): boolean { return this.found; }

  /** Feeds the next chunk of the stream; true once an event with content has been read (in this chunk or before). */
  push(chunk: Buffer): boolean {
    if (this.found) return true;
    this.pending += this.decoder.write(chunk).replace(/\r\n/g, '\n');
    let i;
    while ((i = this.pending.indexOf('\n\n')) >= 0) {
      const event = this.pending.slice(0, i);
      this.pending = this.pending.slice(i + 2);
      if (hasContent(event)) { this.found = true; this.pending = ''; return true; }
    }
    return false;
  }
}

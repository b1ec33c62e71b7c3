// OpenAI chat messages as node-llama-cpp chat history and functions, for the chat wrapper to render.
import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelFunctions, ChatModelResponse, GbnfJsonSchema } from 'node-llama-cpp';
import type { ToolDef } from './openai.ts';

/** A tool call of an assistant message in the history; `params` is `arguments` parsed. */
export type ToolCall = { id: string; name: string; arguments: string; params: unknown };

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; content: string; toolCallId: string };

/** Tool definitions as node-llama-cpp's chat wrappers render them into the prompt. */
export function toFunctions(tools: ToolDef[]): ChatModelFunctions {
  // No prototype: a tool named like an Object method ('toString') is just a name.
  const f = Object.create(null) as Record<string, { description?: string; params?: GbnfJsonSchema }>;
  for (const t of tools) {
    f[t.name] = {
      ...(t.description !== undefined ? { description: t.description } : {}),
      ...(t.parameters !== undefined ? { params: t.parameters as GbnfJsonSchema } : {}),
    };
  }
  return f;
}

/**
 * OpenAI messages as node-llama-cpp chat history. An assistant message's tool calls become
 * function-call items of its model turn, each carrying the result from the `tool` message that
 * answers it, so the chat wrapper renders them in the model's own function-calling format. The
 * last item is an open model turn: a new one, or (after tool results) the turn that made the calls.
 */
export function toHistory(messages: ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const calls = new Map<string, ChatModelFunctionCall>();
  let prev: ChatMessage['role'] | undefined;
  for (const m of messages) {
    if (m.role === 'system' || m.role === 'user') {
      history.push({ type: m.role, text: m.content });
    } else if (m.role === 'assistant') {
      const response: ChatModelResponse['response'] = [];
      if (m.content !== '') response.push(m.content);
      (m.toolCalls ?? []).forEach((c, k) => {
        const item: ChatModelFunctionCall = { type: 'functionCall', name: c.name, params: c.params, result: undefined, startsNewChunk: k === 0 };
        calls.set(c.id, item);
        response.push(item);
      });
      const last = history.at(-1);
      // An answer after tool results continues the model turn that made the calls.
      if (prev === 'tool' && last?.type === 'model') last.response.push(...response);
      else history.push({ type: 'model', response });
    } else if (m.role === 'tool') {
      const call = calls.get(m.toolCallId);
      if (call) {
        try { call.result = JSON.parse(m.content); } catch { call.result = m.content; }
      }
    }
    prev = m.role;
  }
  if (prev !== 'tool') history.push({ type: 'model', response: [] });
  return history;
}

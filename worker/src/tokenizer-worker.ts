// The tokenizer thread's entry (tokenizer-thread.ts starts it): the model's vocabulary alone,
// loaded again in this thread, tokenizing what the main thread sends. The same tokenizer code and
// vocabulary as the main thread's model: the tokens are the same.
import { parentPort, workerData } from 'node:worker_threads';
import { getLlama, LlamaLogLevel, LlamaText } from 'node-llama-cpp';
import type { LlamaTextJSON } from 'node-llama-cpp';

export type TokenizeRequest = { id: number; text: string } | { id: number; llamaText: LlamaTextJSON };
export type TokenizeReply = { id: number; tokens: Uint32Array } | { id: number; error: string };

const { modelPath } = workerData as { modelPath: string };
const port = parentPort!;
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
const model = await llama.loadModel({ modelPath, vocabOnly: true });
port.on('message', (m: TokenizeRequest) => {
  try {
    const tokens = 'text' in m ? model.tokenize(m.text, false) : LlamaText.fromJSON(m.llamaText).tokenize(model.tokenizer);
    const out = Uint32Array.from(tokens);
    port.postMessage({ id: m.id, tokens: out } satisfies TokenizeReply, [out.buffer]);
  } catch (e) {
    port.postMessage({ id: m.id, error: (e as Error).message } satisfies TokenizeReply);
  }
});
port.postMessage('ready');

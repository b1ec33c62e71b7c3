// Tokenization off the event loop. Tokenizing a prompt that fills a large context takes the
// native tokenizer hundreds of milliseconds (about 1 µs a character: ~1 s for a 32k context of
// long pieces), during which the main thread would answer nothing — not /healthz, not the tokens
// of the other sequences. A worker thread holding the model's vocabulary (loaded vocabulary-only:
// no weights) tokenizes instead; the main thread only waits for the answer.
import { Worker } from 'node:worker_threads';
import type { LlamaText, Token } from 'node-llama-cpp';
import type { TokenizeReply, TokenizeRequest } from './tokenizer-worker.ts';

/** The thread is gone (it failed to start, or crashed): the caller tokenizes on the main thread. */
export class TokenizerThreadGone extends Error {}

type Pending = { resolve: (t: Token[]) => void; reject: (e: Error) => void };

export class TokenizerThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private gone: Error | undefined;

  private constructor(worker: Worker) {
    this.worker = worker;
    worker.on('message', (m: TokenizeReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if ('tokens' in m) p.resolve(Array.from(m.tokens) as Token[]);
      else p.reject(new Error(m.error));
    });
    const fail = (e: Error) => {
      this.gone ??= new TokenizerThreadGone(`tokenizer thread gone: ${e.message}`);
      for (const p of this.pending.values()) p.reject(this.gone);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    // Alive only while it has work: an idle thread never keeps the process from exiting.
    worker.unref();
  }

  /** Starts the thread and waits for its vocabulary to load. */
  static start(modelPath: string): Promise<TokenizerThread> {
    const worker = new Worker(new URL('./tokenizer-worker.ts', import.meta.url), { workerData: { modelPath } });
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => { done(); reject(e); void worker.terminate(); };
      const onExit = (code: number) => onError(new Error(`tokenizer thread exited with code ${code} while loading`));
      const onMessage = (m: unknown) => {
        if (m !== 'ready') return onError(new Error('tokenizer thread: unexpected first message'));
        done();
        resolve(new TokenizerThread(worker));
      };
      // Only these: Worker keeps listeners of its own (removeAllListeners would cut its messages).
      const done = () => { worker.off('error', onError); worker.off('exit', onExit); worker.off('message', onMessage); };
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.on('message', onMessage);
    });
  }

  /** The text's tokens (no special tokens parsed, no BOS added): LlamaModel.tokenize(text, false). */
  tokenize(text: string): Promise<Token[]> { return this.send({ id: this.nextId++, text }); }

  /** A LlamaText's tokens (special tokens as it marks them): LlamaText.tokenize(model.tokenizer). */
  tokenizeText(text: LlamaText): Promise<Token[]> { return this.send({ id: this.nextId++, llamaText: text.toJSON() }); }

  private send(m: TokenizeRequest): Promise<Token[]> {
    if (this.gone) return Promise.reject(this.gone);
    return new Promise((resolve, reject) => {
      this.pending.set(m.id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage(m);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

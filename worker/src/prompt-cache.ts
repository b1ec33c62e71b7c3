// The host prompt cache: saved states of context sequences (their KV cells and tokens, as
// node-llama-cpp's saveStateToFile writes them) in files under one directory — a tmpfs such as
// /dev/shm or a pod's memory-backed emptyDir, so a file costs memory, not disk I/O. Keyed by the
// state's tokens, bounded by bytes, least recently used evicted first. It lets more conversations
// than `--parallel` keep their prompt prefix: a sequence is saved when its request ends, and a
// later request whose prompt starts with a saved state loads it instead of evaluating that prefix.
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import { commonPrefix } from './token-prefix.ts';

/** What the metrics see of the cache. */
export type HostCacheEvents = {
  onSize: (bytes: number, entries: number) => void;
  onEviction: () => void;
};

export type HostCacheEntry = {
  readonly tokens: readonly Token[];
  readonly file: string;
  readonly bytes: number;
  lastUsed: number;
  /** Restores reading the file now: eviction leaves the file to the last of them. */
  readers: number;
  evicted: boolean;
};

/** A saved state's file name ends so; at start every such file left in the directory is removed. */
const STATE_SUFFIX = '.kvstate';

export class HostPromptCache {
  readonly dir: string;
  readonly maxBytes: number;
  /**
   * Sliding-window size of the model's attention (0 without). llama.cpp's state writer leaves out
   * the cells a sliding window no longer sees (state_write_meta skips SWA-masked cells), so a state
   * of more tokens than the window can only be continued at its end (see usablePrefix).
   */
  private readonly swaSize: number;
  private readonly events: HostCacheEvents;
  private entries: HostCacheEntry[] = [];
  private bytes = 0;
  private counter = 0;
  private clock = 0;
  /** The most bytes per token a saved state took so far (the next file's size is estimated from it). */
  private bytesPerToken = 0;

  private constructor(dir: string, maxBytes: number, swaSize: number, events: HostCacheEvents) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.swaSize = swaSize;
    this.events = events;
  }

  /**
   * Opens the cache in `dir` (created if missing). The directory is this worker's own (a pod's
   * emptyDir outlives a container restart): state files left by an earlier run are removed, since
   * their tokens are unknown and they would count against the volume's size limit.
   */
  static async open(dir: string, maxBytes: number, swaSize: number, events: HostCacheEvents): Promise<HostPromptCache> {
    await mkdir(dir, { recursive: true });
    for (const f of await readdir(dir)) if (f.endsWith(STATE_SUFFIX)) await rm(join(dir, f), { force: true });
    const cache = new HostPromptCache(dir, maxBytes, swaSize, events);
    events.onSize(0, 0);
    return cache;
  }

  get size(): { bytes: number; entries: number } { return { bytes: this.bytes, entries: this.entries.length }; }

  /**
   * An entry holds `tokens` as its prefix and can serve any prompt that continues them: saving them
   * again adds nothing. Past the sliding window an entry serves only prompts that continue its own
   * end (usablePrefix), so a longer one (the same conversation replayed further) does not count.
   */
  covers(tokens: readonly Token[]): boolean {
    return this.entries.some((e) => e.tokens.length >= tokens.length && commonPrefix(e.tokens, tokens) === tokens.length
      && (this.swaSize === 0 || e.tokens.length <= this.swaSize || e.tokens.length - tokens.length <= 1));
  }

  /**
   * How many of the prompt's tokens a restored entry gives exactly (0 when none). Generation must
   * go on from the entry's end, or from its last token (whose logits are not part of the state):
   * when the entry is longer than the sliding window, the window's cells before the end were not
   * saved, and continuing earlier would attend to missing cells.
   */
  usablePrefix(entry: HostCacheEntry, prompt: readonly Token[]): number {
    const p = Math.min(commonPrefix(entry.tokens, prompt), prompt.length - 1);
    if (this.swaSize > 0 && entry.tokens.length > this.swaSize && p < entry.tokens.length - 1) return 0;
    return Math.max(0, p);
  }

  /** The entry that gives the most of the prompt, with that many tokens. */
  best(prompt: readonly Token[]): { entry: HostCacheEntry; prefix: number } | undefined {
    let best: { entry: HostCacheEntry; prefix: number } | undefined;
    for (const entry of this.entries) {
      const prefix = this.usablePrefix(entry, prompt);
      if (prefix > 0 && (!best || prefix > best.prefix)) best = { entry, prefix };
    }
    return best;
  }

  /**
   * Saves the sequence's state (the caller keeps the sequence untouched meanwhile). Entries whose
   * tokens are a prefix of the new one are dropped: it gives every prompt at least as much.
   */
  async save(seq: LlamaContextSequence): Promise<void> {
    const tokens = seq.contextTokens.slice();
    if (this.covers(tokens)) return;
    for (const e of this.entries.filter((x) => commonPrefix(x.tokens, tokens) === x.tokens.length)) await this.drop(e, false);
    // Room first, from the largest size per token seen: on a tmpfs with a size limit (an emptyDir)
    // the files must stay within it while the new one is written, not only after.
    await this.evictTo(this.maxBytes - Math.min(this.maxBytes, tokens.length * this.bytesPerToken));
    const file = join(this.dir, `${process.pid}-${++this.counter}${STATE_SUFFIX}`);
    let bytes: number;
    try {
      ({ fileSize: bytes } = await seq.saveStateToFile(file));
      // The library reports the bytes it wrote; the file is what the volume counts.
      bytes = Math.max(bytes, (await stat(file)).size);
    } catch (e) {
      await rm(file, { force: true });
      throw e;
    }
    this.bytesPerToken = Math.max(this.bytesPerToken, bytes / Math.max(1, tokens.length));
    if (bytes > this.maxBytes) { await rm(file, { force: true }); return; }
    this.entries.push({ tokens, file, bytes, lastUsed: ++this.clock, readers: 0, evicted: false });
    this.bytes += bytes;
    await this.evictTo(this.maxBytes);
    this.events.onSize(this.bytes, this.entries.length);
  }

  /** Evicts the least recently used entries until the files take at most `bytes`. */
  private async evictTo(bytes: number): Promise<void> {
    while (this.bytes > bytes && this.entries.length > 0) {
      await this.drop(this.entries.reduce((a, b) => (b.lastUsed < a.lastUsed ? b : a)), true);
    }
  }

  /** Loads the entry into the sequence (its tokens become the sequence's). */
  async restore(seq: LlamaContextSequence, entry: HostCacheEntry): Promise<void> {
    entry.lastUsed = ++this.clock;
    entry.readers++;
    try {
      await seq.loadStateFromFile(entry.file, { acceptRisk: true });
    } finally {
      entry.readers--;
      if (entry.evicted && entry.readers === 0) await rm(entry.file, { force: true });
    }
  }

  private async drop(entry: HostCacheEntry, eviction: boolean): Promise<void> {
    // Two saves finishing together may both pick it.
    if (entry.evicted) return;
    this.entries = this.entries.filter((e) => e !== entry);
    this.bytes -= entry.bytes;
    entry.evicted = true;
    if (eviction) this.events.onEviction();
    this.events.onSize(this.bytes, this.entries.length);
    // A restore reading it removes it when done.
    if (entry.readers === 0) await rm(entry.file, { force: true });
  }

  /** Removes every file of the cache. */
  async clear(): Promise<void> {
    const files = this.entries.map((e) => e.file);
    this.entries = [];
    this.bytes = 0;
    await Promise.all(files.map((f) => rm(f, { force: true })));
    this.events.onSize(0, 0);
  }
}

// Lines up the generation loops so node-llama-cpp decodes all of them in one batch per step, the
// way llama-server's loop does. Without it the library's dispatch loop starts the next batch as soon
// as the first sequence has sampled its token, while the others' samples are still being taken: at
// 4 sequences it decoded ~1.33 batches per step (measured: 171 batches for 128 steps), each batch
// paying the full weight read for fewer tokens.
//
// A loop joins once it has its first token (while its prompt is evaluated it is not in step with
// anyone), arrives after each token, and leaves when it ends. Arrivals are released together once
// every member has arrived, on the next turn of the event loop: by then the library's dispatch loop
// has seen an empty queue and ended, so the released loops' next tokens are queued together and go
// into one batch. With a single member nothing waits.
export class DecodeLockstep {
  private members = 0;
  private arrived: (() => void)[] = [];

  get size(): number { return this.members; }

  join(): void { this.members++; }

  leave(): void {
    this.members--;
    this.releaseIfAllArrived();
  }

  /** Resolves when every member has arrived (at once with one member). */
  arrive(): Promise<void> {
    if (this.members <= 1) return Promise.resolve();
    return new Promise((resolve) => {
      this.arrived.push(resolve);
      this.releaseIfAllArrived();
    });
  }

  private releaseIfAllArrived(): void {
    if (this.arrived.length === 0 || this.arrived.length < this.members) return;
    const released = this.arrived.splice(0);
    setImmediate(() => { for (const r of released) r(); });
  }
}

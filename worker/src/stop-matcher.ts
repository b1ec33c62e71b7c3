// Stop strings found in generated text as it grows, in time linear in the text: an Aho–Corasick
// automaton over the stop strings (UTF-16 code units, as the generated text is held). Retrying
// every prefix of every stop string at each token, as before, was quadratic and ran on the event
// loop, where every other sequence of the replica waits for it (lockstep decoding).

export class StopMatcher {
  /** Trie edges per state (state 0 is the root). */
  private readonly next: Map<number, number>[] = [new Map()];
  /** Failure links: the state of the longest proper suffix that is also a trie path. */
  private readonly fail: number[] = [0];
  private readonly depth: number[] = [0];
  /** Length of the longest stop string ending at this state (0: none). */
  private readonly matchLength: number[] = [0];
  private state = 0;
  /** Code units fed so far. */
  private fed = 0;
  /** Automaton steps taken (edges followed plus failure links), for the tests' bound on work done. */
  steps = 0;

  constructor(stops: readonly string[]) {
    for (const s of stops) {
      if (s === '') continue;
      let node = 0;
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        let to = this.next[node]!.get(c);
        if (to === undefined) {
          to = this.next.length;
          this.next.push(new Map());
          this.fail.push(0);
          this.depth.push(this.depth[node]! + 1);
          this.matchLength.push(0);
          this.next[node]!.set(c, to);
        }
        node = to;
      }
      this.matchLength[node] = s.length;
    }
    // Breadth first, so a state's failure link is final before its children need it.
    const queue: number[] = [...this.next[0]!.values()];
    for (let qi = 0; qi < queue.length; qi++) {
      const node = queue[qi]!;
      // The longest stop string ending here is this state's own, or the longest along its failure link.
      if (this.matchLength[node] === 0) this.matchLength[node] = this.matchLength[this.fail[node]!]!;
      for (const [c, child] of this.next[node]!) {
        let f = this.fail[node]!;
        while (f !== 0 && !this.next[f]!.has(c)) f = this.fail[f]!;
        const g = this.next[f]!.get(c);
        this.fail[child] = g !== undefined && g !== child ? g : 0;
        queue.push(child);
      }
    }
  }

  /** True when there is no stop string to look for. */
  get empty(): boolean { return this.next.length === 1; }

  /**
   * Feeds the next piece of text. Returns where the earliest-starting stop string completed by
   * this piece begins (an offset in all the text fed so far), or -1 when none is complete.
   */
  push(piece: string): number {
    let hit = -1;
    for (let i = 0; i < piece.length; i++) {
      const c = piece.charCodeAt(i);
      let s = this.state;
      let to = this.next[s]!.get(c);
      while (to === undefined && s !== 0) {
        s = this.fail[s]!;
        to = this.next[s]!.get(c);
        this.steps++;
      }
      this.state = to ?? 0;
      this.steps++;
      const len = this.matchLength[this.state]!;
      if (len > 0) {
        const start = this.fed + i + 1 - len;
        if (hit < 0 || start < hit) hit = start;
      }
    }
    this.fed += piece.length;
    return hit;
  }

  /**
   * Code units at the end of the text that could still become a stop string (the longest suffix
   * that is a prefix of one): they are held back until the next piece tells.
   */
  get held(): number { return this.depth[this.state]!; }
}

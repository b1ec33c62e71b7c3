// The stop-string matcher on its own: the same answers as a plain search of the whole text, and
// work linear in the text even for stop strings built to make a per-token suffix search quadratic.
import { describe, expect, it } from '@jest/globals';
import { StopMatcher } from '../src/stop-matcher.ts';

/** The answer by brute force over the whole text: the earliest stop string, else the longest tail that may begin one. */
function reference(text: string, stops: string[]): { hit: number; held: number } {
  let hit = -1;
  for (const s of stops) {
    if (s === '') continue;
    const i = text.indexOf(s);
    if (i >= 0 && (hit < 0 || i < hit)) hit = i;
  }
  let held = 0;
  for (const s of stops) for (let k = Math.min(s.length - 1, text.length); k > held; k--) if (text.endsWith(s.slice(0, k))) { held = k; break; }
  return { hit, held };
}

/** A deterministic pseudo-random generator (the failing case can be replayed). */
function rng(seed: number): () => number {
  let x = seed;
  return () => { x = (x * 1103515245 + 12345) % 2 ** 31; return x / 2 ** 31; };
}

describe('StopMatcher', () => {
  it('finds a stop string split across pieces, and holds back what may begin one', () => {
    const m = new StopMatcher(['</end>', 'STOP']);
    expect(m.push('Hello </e')).toBe(-1);
    expect(m.held).toBe(3);
    expect(m.push('n')).toBe(-1);
    expect(m.held).toBe(4);
    expect(m.push('d> more')).toBe(6);
  });

  it('reports the stop string that starts first when one piece completes several', () => {
    const m = new StopMatcher(['bc', 'abcd']);
    expect(m.push('xabcdy')).toBe(1);
    const n = new StopMatcher(['cd', 'abcd']);
    expect(n.push('xabcd')).toBe(1);
  });

  it('ignores empty stop strings and is empty without any', () => {
    expect(new StopMatcher([]).empty).toBe(true);
    expect(new StopMatcher(['']).empty).toBe(true);
    const m = new StopMatcher(['', 'x']);
    expect(m.empty).toBe(false);
    expect(m.push('abx')).toBe(2);
  });

  it('counts UTF-16 code units, as the generated text is held (surrogate pairs included)', () => {
    const m = new StopMatcher(['😀!']);
    expect(m.push('a😀')).toBe(-1);
    expect(m.held).toBe(2);
    expect(m.push('!')).toBe(1);
  });

  it('agrees with a search of the whole text on random texts, stop strings and piece sizes', () => {
    const r = rng(42);
    const word = (n: number) => Array.from({ length: n }, () => 'ab'[Math.floor(r() * 2)]).join('');
    for (let round = 0; round < 500; round++) {
      const stops = Array.from({ length: 1 + Math.floor(r() * 4) }, () => word(1 + Math.floor(r() * 6)));
      const m = new StopMatcher(stops);
      let text = '';
      for (let step = 0; step < 20; step++) {
        const piece = word(1 + Math.floor(r() * 3));
        text += piece;
        const want = reference(text, stops);
        const hit = m.push(piece);
        expect({ round, stops, text, hit }).toEqual({ round, stops, text, hit: want.hit });
        if (hit >= 0) break;
        expect({ round, stops, text, held: m.held }).toEqual({ round, stops, text, held: want.held });
      }
    }
  });

  it('does work linear in the text for hostile stop strings (four of 8,001 characters, 1,500 pieces)', () => {
    // The measured attack: text that always ends in a long prefix of every stop string, so the
    // old per-token search tried ~8,000 prefix lengths of each of the four strings per token
    // (about 10^11 character comparisons over 1,500 tokens).
    const stops = ['a', 'b', 'c', 'd'].map((last) => `${'a'.repeat(8000)}${last === 'a' ? 'e' : last}`);
    const m = new StopMatcher(stops);
    const built = m.steps;
    let fed = 0;
    for (let t = 0; t < 1500; t++) {
      const piece = 'aaaa';
      expect(m.push(piece)).toBe(-1);
      fed += piece.length;
    }
    expect(m.held).toBe(6000);
    // Each code unit takes one step plus failure links, which never exceed the code units fed.
    expect(m.steps - built).toBeLessThanOrEqual(2 * fed);
    // And the text then completes one of them.
    expect(m.push(`${'a'.repeat(2000)}c`)).toBe(fed + 2000 + 1 - 8001);
  });
});

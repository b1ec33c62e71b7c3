// Durations on the command line: plain seconds ("120", "0.5") as the worker's flags take them, or Go's
// time.Duration syntax ("2m", "1m30s", "500ms") as Kubernetes objects write them (spec.router.holdTimeout).

const UNIT_S: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Seconds of `text`, or undefined when it is neither a number nor a Go duration. Negative values are not durations. */
export function parseDurationSeconds(text: string): number | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  if (/^\d+(\.\d+)?$|^\.\d+$/.test(s)) return Number(s);
  if (s === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let i = 0;
  while (i < s.length) {
    part.lastIndex = i;
    const m = part.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_S[m[2]!]!;
    i = part.lastIndex;
  }
  return total;
}

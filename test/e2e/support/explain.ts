// Reads the time-to-page `qwen-operator render --explain` promises for one SLO: in the SLO's
// block, the line "a total breach pages after ~7m30s", else the fastest critical tier's
// "total breach fires after ~…". Undefined when the SLO never pages or the text says nothing.
export function explainPromise(text: string, slo: string): number | undefined {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${slo}:`) || l.trimStart().startsWith(`${slo}:`));
  if (at < 0) return undefined;
  const block: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (!/^\s/.test(l)) break;
    block.push(l);
  }
  const summary = block.find((l) => /total breach pages after/.test(l));
  if (summary) return firstDuration(summary.slice(summary.indexOf('pages after')));
  const tiers = block.filter((l) => /critical/.test(l) && /fires after/.test(l)).map((l) => firstDuration(l.slice(l.indexOf('fires after'))));
  const known = tiers.filter((s): s is number => s !== undefined);
  return known.length ? Math.min(...known) : undefined;
}

/** Seconds in the first duration of a text: `7m30s`, `43m`, `1h12m`, `90s`, `2.5 min`. */
export function firstDuration(text: string): number | undefined {
  const m = /(?:\d+(?:\.\d+)?\s*(?:d|h|min|m|s)(?![a-z]))+/i.exec(text);
  if (!m) return undefined;
  const unit: Record<string, number> = { d: 86400, h: 3600, min: 60, m: 60, s: 1 };
  let total = 0;
  for (const p of m[0].matchAll(/(\d+(?:\.\d+)?)\s*(d|h|min|m|s)/gi)) total += Number(p[1]) * unit[p[2]!.toLowerCase()]!;
  return total;
}

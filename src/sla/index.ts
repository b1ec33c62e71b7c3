// The SLA compiler: SLA block -> SLOs (slos.ts) -> SLI expressions (sli.ts) -> burn-rate tiers ->
// Prometheus rules, plus the bucket boundaries the worker must expose.
export { normalizeSla, sloBucketBoundaries, slosOf, tokensThreshold, type NormalizedSla, type Slo, type SloKind } from './slos.ts';
export { RECORD, matcher, quantileExpr, rawSli, recordedSli, selector, sloSelector, targetOf, type LabelMatcher, type Sli, type Target } from './sli.ts';
export { leRegex, leSpellings } from './le.ts';
export { planSlo, type SloPlan, type Tier } from './tiers.ts';
export { compileSla, type CompiledSla, type RuleGroup, type Rule, type Links } from './rules.ts';
export { explain } from './explain.ts';

// The SLA compiler: SLA block -> SLOs -> burn-rate tiers -> Prometheus rules, plus the bucket
// boundaries the worker must expose. The operator imports from here only.
export { sloBucketBoundaries, tokensThreshold } from './buckets.ts';
export { leRegex, leSpellings } from './le.ts';
export { slosOf, type Slo, type SloKind } from './slos.ts';
export { planSlo, type SloPlan, type Tier } from './tiers.ts';
export { compileSla, BUDGET_BURN_ALERT, METRICS_ABSENT_ALERT, type CompiledSla, type RuleGroup, type Rule, type Links } from './rules.ts';
export { explain } from './explain.ts';
export { RECORD } from './promql.ts';

// What the operator may do in the cluster, derived from what the controller watches and writes
// (src/controller/watches.ts), so a kind it owns is never missing from its permissions. The Helm
// chart's ClusterRole/Role rules are generated from these lists (`npm run generate` writes
// charts/qwen-operator/files/*-rules.yaml; a test fails on drift), and the least-privilege test
// runs the operator with exactly these rules.
import { apiGroupOf } from './kube/object.ts';
import { CREATED_ONLY, GRANTED, OWNED, PRIMARY, READ_ONLY, WORKER_PODS, type PermittedKind } from './controller/watches.ts';

export type PolicyRule = { apiGroups: string[]; resources: string[]; verbs: string[] };

/** One rule per API group and verb set, resources in the order the kinds are listed. */
function rulesFor(kinds: PermittedKind[]): PolicyRule[] {
  const rules: PolicyRule[] = [];
  for (const k of kinds) {
    const group = apiGroupOf(k.apiVersion);
    const same = rules.find((r) => r.apiGroups[0] === group && r.verbs.join() === k.verbs.join());
    if (same) same.resources.push(k.plural);
    else rules.push({ apiGroups: [group], resources: [k.plural], verbs: k.verbs });
  }
  return rules;
}

export const OPERATOR_RULES: PolicyRule[] = [
  ...rulesFor([PRIMARY]),
  { apiGroups: [apiGroupOf(PRIMARY.apiVersion)], resources: [`${PRIMARY.plural}/status`], verbs: PRIMARY.statusVerbs },
  { apiGroups: [apiGroupOf(PRIMARY.apiVersion)], resources: [`${PRIMARY.plural}/finalizers`], verbs: PRIMARY.finalizersVerbs },
  ...rulesFor(OWNED),
  ...rulesFor([WORKER_PODS]),
  ...rulesFor(READ_ONLY),
  ...rulesFor(CREATED_ONLY),
  ...GRANTED.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })),
];

/** Leader election (src/kube/leader.ts), granted in the operator's own namespace only. */
export const LEADER_ELECTION_RULES: PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];

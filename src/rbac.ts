// The one list of what the operator may do in the cluster: the Helm chart's ClusterRole/Role is
// generated from it (`qwen-operator rbac`, checked in under charts/, a test fails on drift), and
// the least-privilege test runs the operator with exactly these rules.
export type PolicyRule = { apiGroups: string[]; resources: string[]; verbs: string[] };

// Server-side apply needs `patch`, plus `create` when the object does not exist yet.
// Caches come from list+watch, so no `get` on children.
const OWNED = ['list', 'watch', 'create', 'patch', 'delete'];

export const OPERATOR_RULES: PolicyRule[] = [
  { apiGroups: ['qwenops.io'], resources: ['qwenservices'], verbs: ['list', 'watch'] },
  { apiGroups: ['qwenops.io'], resources: ['qwenservices/status'], verbs: ['patch'] },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: OWNED },
  { apiGroups: [''], resources: ['services', 'configmaps'], verbs: OWNED },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: OWNED },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: OWNED },
  { apiGroups: ['monitoring.coreos.com'], resources: ['servicemonitors', 'prometheusrules', 'alertmanagerconfigs'], verbs: OWNED },
  { apiGroups: ['keda.sh'], resources: ['scaledobjects'], verbs: OWNED },
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
];

/** Leader election, granted in the operator's own namespace only. */
export const LEADER_ELECTION_RULES: PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];

import { describe, expect, it } from '@jest/globals';
import { OWNED, childOwnerKey, controllerOwnerUid, podOwnerKey } from '../../../src/controller/watches.ts';
import { OPERATOR_RULES } from '../../../src/rbac.ts';
import { apiGroupOf, type KubeObject } from '../../../src/kube/object.ts';
import { OWNED_KINDS } from '../../../src/render/index.ts';

const owner = { apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', name: 'chat', uid: 'u-1', controller: true, blockOwnerDeletion: true };
const child = (ownerReferences: KubeObject['metadata']['ownerReferences']): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'chat', namespace: 'team-a', ownerReferences } });

describe('what the controller watches', () => {
  it('maps an owned child to its controlling QwenService, and nothing else', () => {
    expect(childOwnerKey(child([owner]))).toBe('team-a/chat');
    expect(controllerOwnerUid(child([owner]))).toBe('u-1');
    expect(childOwnerKey(child([{ ...owner, controller: false }]))).toBeUndefined();
    expect(childOwnerKey(child([{ ...owner, apiVersion: 'apps/v1', kind: 'QwenService' }]))).toBeUndefined();
    expect(childOwnerKey(child(undefined))).toBeUndefined();
  });

  it('maps a worker pod to its QwenService by label', () => {
    const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'chat-abc', namespace: 'team-a', labels: { 'qwenops.io/qwenservice': 'chat' } } };
    expect(podOwnerKey(pod)).toBe('team-a/chat');
    expect(podOwnerKey({ ...pod, metadata: { name: 'other', namespace: 'team-a' } })).toBeUndefined();
  });

  it('may set blockOwnerDeletion on its children under OwnerReferencesPermissionEnforcement: update on qwenservices/finalizers, nothing more there', () => {
    expect(OPERATOR_RULES.filter((r) => r.resources.some((x) => x.startsWith('qwenservices/finalizers')))).toEqual([{ apiGroups: ['qwenops.io'], resources: ['qwenservices/finalizers'], verbs: ['update'] }]);
  });

  it('permits every owned kind it renders (RBAC derived from the same list)', () => {
    expect(OWNED.map((k) => k.kind)).toEqual(OWNED_KINDS.map((k) => k.kind));
    for (const k of OWNED_KINDS) {
      expect(OPERATOR_RULES).toContainEqual(expect.objectContaining({ apiGroups: [apiGroupOf(k.apiVersion)], resources: expect.arrayContaining([k.plural]), verbs: ['list', 'watch', 'create', 'patch', 'delete'] }));
    }
  });
});

import { describe, expect, it } from '@jest/globals';
import { createNotYetApplied, ownedView } from '../../../src/controller/owned-view.ts';
import type { KubeObject } from '../../../src/kube/object.ts';

const entry = (manager: string, operation: string, subresource?: string) => ({ manager, operation, apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:a': {} } }, ...(subresource ? { subresource } : {}) });
const child = (managedFields: unknown[]): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n', managedFields }, data: { a: '1' } });

describe('what an owned cache keeps of a child', () => {
  it('keeps no managedFields once the operator\'s fields are applied', () => {
    const view = ownedView('qwen-operator')(child([entry('qwen-operator', 'Apply'), entry('kube-controller-manager', 'Update', 'status')]));
    expect(view.metadata.managedFields).toBeUndefined();
    expect(view.data).toEqual({ a: '1' });
    expect(createNotYetApplied(view, 'qwen-operator')).toBe(false);
  });

  it('keeps the entries in order, without their fields, while its create is still an Update entry', () => {
    const view = ownedView('qwen-operator')(child([entry('kube-controller-manager', 'Update', 'status'), entry('qwen-operator', 'Update')]));
    expect(view.metadata.managedFields).toEqual([{ manager: 'kube-controller-manager', operation: 'Update', subresource: 'status' }, { manager: 'qwen-operator', operation: 'Update' }]);
    expect(createNotYetApplied(view, 'qwen-operator')).toBe(true);
  });

  it('does not take another manager\'s Update, nor a status update, for the operator\'s create', () => {
    expect(createNotYetApplied(ownedView('qwen-operator')(child([entry('kubectl', 'Update'), entry('qwen-operator', 'Update', 'status')])), 'qwen-operator')).toBe(false);
  });
});

import { describe, expect, it } from '@jest/globals';
import { WriteEchoes } from '../../../src/controller/echo.ts';
import type { KubeObject } from '../../../src/kube/object.ts';

const at = (resourceVersion: string, name = 'a'): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'n', resourceVersion } });

describe('echoes of the operator\'s own writes', () => {
  it('knows each version it wrote, a create and the patch after it alike, once', () => {
    const echoes = new WriteEchoes();
    echoes.wrote(at('10'));
    echoes.wrote(at('11'));
    expect(echoes.isEcho(at('10'))).toBe(true);
    expect(echoes.isEcho(at('11'))).toBe(true);
    // Seen once: the set holds only writes whose echo is still on its way.
    expect(echoes.isEcho(at('11'))).toBe(false);
  });

  it('does not take someone else\'s version, nor another object\'s, for an echo', () => {
    const echoes = new WriteEchoes();
    echoes.wrote(at('10'));
    expect(echoes.isEcho(at('12'))).toBe(false);
    expect(echoes.isEcho(at('10', 'b'))).toBe(false);
    expect(echoes.isEcho({ ...at('10'), kind: 'ConfigMap' })).toBe(false);
  });
});

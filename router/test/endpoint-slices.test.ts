// readyEndpoints, the pure part of the EndpointSlice source (the watch itself is tested on the real
// apiserver: test/integration/router/endpoint-slices.test.ts): the API's nil conditions and unnamed ports.
import { describe, expect, it } from '@jest/globals';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { readyEndpoints } from '../src/endpoint-slices.ts';

const slice = (s: Partial<V1EndpointSlice>): V1EndpointSlice => ({ addressType: 'IPv4', endpoints: [], ...s });

describe('readyEndpoints', () => {
  it('takes nil conditions as ready (the API says so) and skips not-ready and terminating endpoints', () => {
    const s = slice({
      ports: [{ name: 'http', port: 8080 }],
      endpoints: [{ addresses: ['10.0.0.3'] }, { addresses: ['10.0.0.1'], conditions: {} }, { addresses: ['10.0.0.2'], conditions: { ready: false } }, { addresses: ['10.0.0.4'], conditions: { ready: true, terminating: true } }],
    });
    expect(readyEndpoints([s], 'http')).toEqual([{ id: '10.0.0.1:8080', url: 'http://10.0.0.1:8080' }, { id: '10.0.0.3:8080', url: 'http://10.0.0.3:8080' }]);
  });

  it('matches the unnamed port of a single-port Service by number, skips slices without the port', () => {
    const unnamed = slice({ ports: [{ port: 9090 }], endpoints: [{ addresses: ['10.0.0.1'] }] });
    const other = slice({ ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['10.0.0.2'] }] });
    expect(readyEndpoints([unnamed, other], '9090').map((e) => e.id)).toEqual(['10.0.0.1:9090']);
    expect(readyEndpoints([unnamed, other], 'http').map((e) => e.id)).toEqual(['10.0.0.2:8080']);
    expect(readyEndpoints([slice({ endpoints: [{ addresses: ['10.0.0.1'] }] })], 'http')).toEqual([]);
  });
});

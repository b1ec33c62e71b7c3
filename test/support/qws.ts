// A QwenService as tests read it back from the apiserver: the API's own status types (src/api), not
// a copy per test file.
import type { Condition, QwenServiceStatus } from '../../src/api/qwenservice.ts';
import type { KubeObject } from '../cluster/client.ts';

export type Qws = KubeObject & { status?: QwenServiceStatus };
export type { Condition };

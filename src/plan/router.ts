// What spec.router resolves to: the API's defaults applied, the durations parsed, the names of the
// router's objects and the address KEDA's external scaler calls. Pure.
import type { QwenService } from '../api/qwenservice.ts';
import { parseDuration } from '../api/units.ts';
import { namespaceOf } from '../kube/object.ts';
import { ROUTER_DEFAULT } from '../../router/src/contract.ts';
import type { RenderConfig } from './config.ts';
import { routerName, workersServiceName } from './names.ts';

export type RouterPlan = {
  replicas: number;
  affinity: 'Prefix' | 'None';
  holdTimeoutSeconds: number;
  maxHeld: number;
  image: string;
  /** The router's own objects (Deployment, ServiceAccount, Role, RoleBinding, PodDisruptionBudget, headless Service). */
  name: string;
  /** The workers' Service: the router follows its EndpointSlices. */
  workersService: string;
  /** host:port of the router's external scaler, as KEDA's ScaledObject names it (through the headless Service). */
  scalerAddress: string;
};

export function routerPlan(qs: QwenService, config: RenderConfig): RouterPlan | undefined {
  const r = qs.spec.router;
  if (!r) return undefined;
  const name = routerName(qs);
  return {
    replicas: r.replicas,
    affinity: r.affinity,
    holdTimeoutSeconds: parseDuration(r.holdTimeout),
    maxHeld: r.maxHeld,
    image: r.image ?? config.routerImage,
    name,
    workersService: workersServiceName(qs),
    scalerAddress: `${name}.${namespaceOf(qs)}.svc.cluster.local:${ROUTER_DEFAULT.scalerPort}`,
  };
}

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
  /**
   * Whether a router pod is ready to answer KEDA. KEDA asks a new external-push trigger for its
   * metric spec once, when it reconciles the ScaledObject; if no router answers then, it leaves the
   * trigger's metric out of the ScaledObject's status and drops every later push ("could not
   * resolve metric name") until the ScaledObject changes again. So the trigger (and with it the
   * scale to zero it makes safe) is added only once a router is ready: that change makes KEDA ask again.
   */
  scalerReady: boolean;
};

/** `ready`: a router pod is ready (observed; `render` assumes so: what the operator converges to). */
export function routerPlan(qs: QwenService, config: RenderConfig, ready = true): RouterPlan | undefined {
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
    scalerReady: ready,
  };
}

// `qwen-operator run`: the controller process (in-cluster, or with a kubeconfig). Flags are
// read in run-settings.ts, the process is wired in operator.ts.
import { defaultRenderConfig } from '../render/common.ts';
import { DEFAULT_CPU_BANDWIDTH_GBPS } from '../sizing/feasibility.ts';
import { parseOptions, type Command } from './command.ts';
import { runOperator } from './operator.ts';
import { RUN_OPTIONS, readRunSettings } from './run-settings.ts';

const HELP = `Usage: qwen-operator run [options]

Runs the operator against the cluster of KUBECONFIG (or --kubeconfig), or in-cluster.

Options (each also from the environment variable in brackets):
  --kubeconfig PATH             kubeconfig file [KUBECONFIG]; in-cluster config when unset
  --namespaces a,b              namespaces to watch [WATCH_NAMESPACES]; all when empty
  --worker-image IMAGE          default worker image [WORKER_IMAGE] (default ${defaultRenderConfig.workerImage})
  --router-image IMAGE          default router image (spec.router) [ROUTER_IMAGE] (default ${defaultRenderConfig.routerImage})
  --concurrency N               reconciles in parallel (default 4)
  --log-level LEVEL             trace|debug|info|warn|error [LOG_LEVEL] (default info)
  --health-addr HOST:PORT       /healthz, /readyz, /metrics (default 0.0.0.0:8081)
  --leader-elect                campaign for a Lease before reconciling (default off)
  --lease-namespace NS          namespace of the Lease [POD_NAMESPACE] (default default)
  --lease-name NAME             (default qwen-operator-leader)
  --identity ID                 this candidate's identity [POD_NAME] (default hostname-pid)
  --lease-duration S            how long a standby waits, from the last change it saw, before
                                taking the lease over (default 15)
  --renew-deadline S            a leader that has not renewed for this long stops writing and
                                exits; shorter than the lease duration (default 10)
  --retry-period S              between lease reads and renewals (default 2)
  --monitoring-check-interval S seconds between checks for prometheus-operator and KEDA CRDs (default 30)
  --resync-interval S           seconds between full resyncs (default 600)
  --runbook-url URL             runbook linked from alerts
  --prometheus-namespaces a,b   namespaces where Prometheus runs: the only ones the workers'
                                NetworkPolicies open the metrics port to [PROMETHEUS_NAMESPACES]; all when empty
  --keda-namespaces a,b         namespaces where KEDA runs: the only ones the NetworkPolicies open the
                                router's external-scaler port to [KEDA_NAMESPACES]; all when empty
  --prometheus-url URL          Prometheus whose recording rules feed status.sla and SLACompliant,
                                and that KEDA's autoscaling triggers query [PROMETHEUS_URL];
                                no SLA status and no ScaledObject when unset
  --sla-status-interval S       seconds between SLA status reads (default 30)
  --allowed-image-prefixes a,b  spec.image and spec.router.image must start with one of these (a registry or repository,
                                e.g. ghcr.io/qwenops/) [ALLOWED_IMAGE_PREFIXES]; any image when empty
  --allowed-smarthosts a,b      e-mail receivers' smarthost must be one of these (host or host:port)
                                [ALLOWED_SMARTHOSTS]; any when empty. A QwenService asking for more is
                                refused (Ready=False ImageNotAllowed / SmarthostNotAllowed), nothing applied
  --cpu-memory-bandwidth GB/S   memory bandwidth of the nodes CPU workers (gpu.count 0) run on, for
                                SLAFeasible's decode bound [CPU_MEMORY_BANDWIDTH_GBPS] (default ${DEFAULT_CPU_BANDWIDTH_GBPS})`;

export const runCommand: Command = {
  help: HELP,
  async run(args) {
    const { values } = parseOptions(args, RUN_OPTIONS);
    return runOperator(readRunSettings(values));
  },
};

// Real processes for kwok's pods. kwok marks pods Running and Ready and gives them an IP from its
// CIDR, but runs nothing. The router's e2e needs the pods to answer at their IPs: for each pod a
// selector picks, this runner binds the pod's IP on the loopback device (the test machine routes it
// to itself), starts the process the pod stands for, polls its readiness URL as the kubelet's probe
// would, and publishes the pods' addresses in EndpointSlices with the readiness it saw — the
// endpointslice controller's job, which the test control plane does not run. A pod that goes away
// is taken out of the slices first, then its process gets SIGTERM (as the kubelet drains a pod).
// Runs as root (the e2e machine's tests do): `ip addr add` needs CAP_NET_ADMIN.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { apply, list, remove, type ClusterInfo, type KubeObject } from '../../cluster/client.ts';
import { startLogged, stopChild } from '../../support/child.ts';

export type Pod = KubeObject & {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string; creationTimestamp?: string };
  status?: { podIP?: string; phase?: string };
};

/** What one pod runs: a process listening on `ip`, ready when `readyUrl` answers 200. */
export type PodProcess = { bin: string; args: string[]; env?: NodeJS.ProcessEnv; readyUrl: string; log: string };

/** An EndpointSlice to keep: the runner's pods whose labels include `selector`, on `ports`. */
export type SliceSpec = { service: string; selector: Record<string, string>; ports: { name: string; port: number }[] };

/** When each step of a pod's start happened (ms since the epoch): the cold-start breakdown. */
export type PodTimes = { created: number; seen: number; spawned: number; ready?: number };

type Running = { pod: Pod; ip: string; child: ChildProcess; ready: boolean; times: PodTimes; stopping: boolean };

export class PodRunner {
  private readonly running = new Map<string, Running>();
  private readonly published = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;
  /** Every pod started so far, by name (kept after it stops). */
  readonly history = new Map<string, PodTimes>();

  private readonly info: ClusterInfo;
  private readonly namespace: string;
  private readonly labelSelector: string;
  private readonly processFor: (pod: Pod, ip: string) => PodProcess;
  private readonly slices: SliceSpec[];

  constructor(info: ClusterInfo, namespace: string, labelSelector: string, processFor: (pod: Pod, ip: string) => PodProcess, slices: SliceSpec[]) {
    this.info = info;
    this.namespace = namespace;
    this.labelSelector = labelSelector;
    this.processFor = processFor;
    this.slices = slices;
  }

  start(intervalMs = 250): this {
    const tick = () => {
      if (this.stopped) return;
      this.timer = setTimeout(async () => {
        if (!this.busy) {
          this.busy = true;
          try { await this.sync(); } catch { /* the next tick retries: the apiserver may be briefly busy */ } finally { this.busy = false; }
        }
        tick();
      }, intervalMs);
    };
    tick();
    return this;
  }

  /** Pods with a process now, and whether each is ready. */
  pods(): { name: string; ip: string; ready: boolean }[] {
    return [...this.running.values()].map((r) => ({ name: r.pod.metadata.name, ip: r.ip, ready: r.ready }));
  }

  private async sync(): Promise<void> {
    const pods = await list<Pod>(this.info, 'v1', 'Pod', this.namespace, this.labelSelector);
    const live = new Set<string>();
    for (const pod of pods) {
      const ip = pod.status?.podIP;
      if (!ip || pod.metadata.deletionTimestamp) continue;
      live.add(pod.metadata.uid);
      if (this.running.has(pod.metadata.uid)) continue;
      addLoopbackIp(ip);
      const proc = this.processFor(pod, ip);
      const now = Date.now();
      const times: PodTimes = { created: Date.parse(pod.metadata.creationTimestamp ?? '') || now, seen: now, spawned: now };
      this.history.set(pod.metadata.name, times);
      const child = startLogged(proc.bin, proc.args, { ...process.env, ...proc.env }, proc.log, process.cwd());
      const run: Running = { pod, ip, child, ready: false, times, stopping: false };
      this.running.set(pod.metadata.uid, run);
      void this.probe(run, proc.readyUrl);
    }
    for (const [uid, run] of this.running) {
      if (!live.has(uid) && !run.stopping) {
        run.stopping = true;
        run.ready = false;
        await this.publish();
        void this.stopOne(uid, run);
      }
    }
    await this.publish();
  }

  private async probe(run: Running, url: string): Promise<void> {
    while (!run.stopping && !this.stopped && run.child.exitCode === null) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) { run.ready = true; run.times.ready = Date.now(); return; }
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async stopOne(uid: string, run: Running): Promise<void> {
    await stopChild(run.child);
    this.running.delete(uid);
    if (![...this.running.values()].some((r) => r.ip === run.ip)) removeLoopbackIp(run.ip);
  }

  /** Writes each slice when its content changed. */
  private async publish(): Promise<void> {
    for (const spec of this.slices) {
      const members = [...this.running.values()].filter((r) => Object.entries(spec.selector).every(([k, v]) => r.pod.metadata.labels?.[k] === v));
      const slice = {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: {
          name: `${spec.service}-podrunner`, namespace: this.namespace,
          labels: { 'kubernetes.io/service-name': spec.service, 'endpointslice.kubernetes.io/managed-by': 'pod-runner.qwen-test' },
        },
        addressType: 'IPv4',
        ports: spec.ports.map((p) => ({ name: p.name, port: p.port, protocol: 'TCP' })),
        endpoints: members.map((r) => ({
          addresses: [r.ip],
          conditions: { ready: r.ready && !r.stopping, serving: r.ready, terminating: r.stopping },
          targetRef: { kind: 'Pod', name: r.pod.metadata.name, namespace: this.namespace, uid: r.pod.metadata.uid },
        })),
      };
      const text = JSON.stringify(slice);
      if (this.published.get(spec.service) === text) continue;
      await apply(this.info, slice as KubeObject);
      this.published.set(spec.service, text);
    }
  }

  /** Ends every process, frees their IPs and deletes the slices. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all([...this.running.entries()].map(([uid, run]) => { run.stopping = true; return this.stopOne(uid, run); }));
    for (const spec of this.slices) await remove(this.info, 'discovery.k8s.io/v1', 'EndpointSlice', `${spec.service}-podrunner`, this.namespace).catch(() => {});
  }
}

function addLoopbackIp(ip: string): void {
  try { execFileSync('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo'], { stdio: 'pipe' }); } catch (e) {
    if (!String((e as { stderr?: Buffer }).stderr ?? '').includes('File exists')) throw e;
  }
}

function removeLoopbackIp(ip: string): void {
  try { execFileSync('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo'], { stdio: 'pipe' }); } catch { /* already gone */ }
}

// Real Prometheus, Alertmanager and a webhook receiver as child processes on loopback, wired the
// way the Prometheus Operator would wire them for our objects: Prometheus scrapes each worker with
// the target labels a ServiceMonitor gives (namespace, service, pod, job) and evaluates the rule
// groups of the PrometheusRule; Alertmanager runs the routing rendered for the QwenService and
// delivers to the webhook receiver. Used by the e2e tests and by scripts/stack.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { freePort } from '../../cluster/cluster.ts';
import { toolPath } from '../../support/tools.ts';

export type Proc = { name: string; child: ChildProcess; url: string; logFile: string; stop(): Promise<void> };

function startProc(name: string, bin: string, args: string[], dir: string, url: string): Proc {
  const logFile = join(dir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd], cwd: dir });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name, child, url, logFile,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function waitHttp(url: string, proc: Proc, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}); see ${proc.logFile}`);
    const r = await fetch(url).catch(() => undefined);
    if (r?.ok) return;
    if (Date.now() > deadline) throw new Error(`${proc.name} not ready at ${url} within ${timeoutMs} ms; see ${proc.logFile}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** A scrape target with the labels the ServiceMonitor's relabelling would give it (`podLabels`: its podTargetLabels, e.g. rollouts_pod_template_hash). */
export type Target = { address: string; namespace: string; service: string; pod: string; podLabels?: Record<string, string> };

export type RuleGroups = { groups: unknown[] };

export type PrometheusOptions = {
  dir: string;
  targets: Target[];
  rules?: RuleGroups;
  alertmanagerURL?: string;
  /** Scrape and rule evaluation interval (default 1s: the e2e tests compress minutes into seconds). */
  interval?: string;
};

export type Prometheus = Proc & {
  setTargets(t: Target[]): Promise<void>;
  setRules(r: RuleGroups): Promise<void>;
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
};

/** Prometheus 3 with one job per QwenService service, as the ServiceMonitor would configure. */
export async function startPrometheus(o: PrometheusOptions): Promise<Prometheus> {
  mkdirSync(o.dir, { recursive: true });
  const port = await freePort();
  const configFile = join(o.dir, 'prometheus.yml');
  const rulesFile = join(o.dir, 'rules.yml');
  let targets = o.targets;
  let rules = o.rules ?? { groups: [] };
  const write = () => {
    writeFileSync(rulesFile, dump(rules, { lineWidth: -1, noRefs: true }));
    const services = [...new Set(targets.map((t) => `${t.namespace}/${t.service}`))];
    writeFileSync(configFile, dump({
      global: { scrape_interval: o.interval ?? '1s', evaluation_interval: o.interval ?? '1s', scrape_timeout: o.interval ?? '1s' },
      rule_files: [rulesFile],
      ...(o.alertmanagerURL ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [new URL(o.alertmanagerURL).host] }] }] } } : {}),
      scrape_configs: services.map((s) => {
        const [namespace, service] = s.split('/') as [string, string];
        return {
          // prometheus-operator names the job serviceMonitor/<ns>/<name>/<endpoint> and sets the
          // `job` label to the Service name; static labels do the same here.
          job_name: `serviceMonitor/${namespace}/${service}/0`,
          static_configs: targets.filter((t) => t.namespace === namespace && t.service === service)
            .map((t) => ({ targets: [t.address], labels: { ...t.podLabels, namespace, service, pod: t.pod, job: service } })),
        };
      }),
    }, { lineWidth: -1 }));
  };
  write();
  const url = `http://127.0.0.1:${port}`;
  const proc = startProc('prometheus', toolPath('prometheus'), [
    `--config.file=${configFile}`, `--storage.tsdb.path=${join(o.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    '--web.enable-lifecycle', '--storage.tsdb.retention.time=1d', '--log.level=warn',
  ], o.dir, url);
  await waitHttp(`${url}/-/ready`, proc);
  const reload = async () => {
    write();
    const r = await fetch(`${url}/-/reload`, { method: 'POST' });
    if (!r.ok) throw new Error(`prometheus reload: ${r.status} ${await r.text()}`);
  };
  return {
    ...proc,
    async setTargets(t) { targets = t; await reload(); },
    async setRules(r) { rules = r; await reload(); },
    async query(expr) {
      const r = await fetch(`${url}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr }) });
      const j = await r.json() as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (j.status !== 'success') throw new Error(`query ${expr}: ${j.error}`);
      return j.data.result;
    },
  };
}

export type Alertmanager = Proc;

/** Alertmanager with the given configuration (YAML text or object). */
export async function startAlertmanager(dir: string, config: unknown): Promise<Alertmanager> {
  mkdirSync(dir, { recursive: true });
  const [port, cluster] = [await freePort(), await freePort()];
  const configFile = join(dir, 'alertmanager.yml');
  writeFileSync(configFile, typeof config === 'string' ? config : dump(config, { lineWidth: -1 }));
  const url = `http://127.0.0.1:${port}`;
  const proc = startProc('alertmanager', toolPath('alertmanager'), [
    `--config.file=${configFile}`, `--storage.path=${join(dir, 'am-data')}`, `--web.listen-address=127.0.0.1:${port}`,
    `--cluster.listen-address=127.0.0.1:${cluster}`, '--log.level=warn',
  ], dir, url);
  await waitHttp(`${url}/-/ready`, proc);
  return proc;
}

export type Notification = {
  receivedAt: number;
  receiver: string;
  status: string;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string }[];
  groupLabels: Record<string, string>;
};

export type Webhook = { url: string; received: Notification[]; server: Server; onNotification?: (n: Notification) => void; stop(): Promise<void> };

/** An HTTP receiver for Alertmanager's webhook_config: keeps every notification it gets. */
export async function startWebhook(): Promise<Webhook> {
  const hook: Webhook = {
    url: '', received: [], server: createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          const n = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Notification;
          n.receivedAt = Date.now();
          hook.received.push(n);
          hook.onNotification?.(n);
        } catch { /* not a notification */ }
        res.writeHead(200).end('ok');
      });
    }),
    stop: () => new Promise((resolve) => { hook.server.closeAllConnections(); hook.server.close(() => resolve()); }),
  };
  await new Promise<void>((resolve) => hook.server.listen(0, '127.0.0.1', resolve));
  const addr = hook.server.address() as { port: number };
  hook.url = `http://127.0.0.1:${addr.port}/alerts`;
  return hook;
}

/** Alerts delivered so far whose labels include `match`, with the notification's time. */
export function delivered(hook: Webhook, match: Record<string, string>, status = 'firing'): { at: number; labels: Record<string, string> }[] {
  return hook.received.flatMap((n) => n.alerts.filter((a) => a.status === status && Object.entries(match).every(([k, v]) => a.labels[k] === v)).map((a) => ({ at: n.receivedAt, labels: a.labels })));
}

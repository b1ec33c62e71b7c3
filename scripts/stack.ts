// The README's main command, as a local stack on one machine, offline from the setup caches:
// a dev control plane with kwok GPU nodes, the CRDs, the operator (`qwen-operator run` with
// --prometheus-url), the embedded example QwenService, the real worker serving the test model on
// loopback, Prometheus + Alertmanager wired as prometheus-operator would wire them for our objects,
// and a webhook receiver that prints every alert. Prints `kubectl get qws` as it changes. Ctrl-C
// stops every process it started.
//   node scripts/stack.ts [-f QWENSERVICE.yaml] [--no-load] [--interval 5s]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { load as loadYaml } from 'js-yaml';
import { DEFAULT_NODES, startCluster, type Cluster } from '../test/cluster/cluster.ts';
import { apply, create, get, kubectl, list, waitFor, type KubeObject } from '../test/cluster/client.ts';
import { binDir, cacheDir } from '../test/support/tools.ts';
import { startAlertmanager, startPrometheus, startWebhook, type Notification, type Proc, type Prometheus, type Webhook } from '../test/e2e/support/monitoring.ts';
import { explainPromise } from '../test/e2e/support/explain.ts';
import { checkQwenService } from '../src/api/validate.ts';
import { namespaceOf } from '../src/kube/object.ts';
import { slosOf } from '../src/sla/slos.ts';
import { RECORD_LEVEL } from '../src/sla/sli.ts';
import { deploymentArgs, flagValue, MODEL_PATH, mergeAlertmanagerConfigs, renderCli, ROOT, ruleGroupsOf, startLocalWorker, steadyLoad, writeYaml, type Load, type LocalWorker } from '../test/e2e/support/pipeline.ts';

const { values: opts } = parseArgs({
  options: {
    file: { type: 'string', short: 'f', default: join(ROOT, 'manifests', 'examples', 'full-sla.yaml') },
    'no-load': { type: 'boolean', default: false },
    interval: { type: 'string', default: '5s' },
  },
});

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (m: string) => process.stdout.write(`${bold('[stack]')} ${m}\n`);

// --- what the setup must have filled (offline from here on) ----------------------------------
const missing: string[] = [];
for (const tool of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'kubectl', 'prometheus', 'alertmanager']) {
  if (!existsSync(join(binDir, tool))) missing.push(`${tool} (in ${binDir})`);
}
if (!existsSync(join(cacheDir, 'prometheus-operator-crds'))) missing.push(`prometheus-operator CRDs (${join(cacheDir, 'prometheus-operator-crds')})`);
if (!existsSync(MODEL_PATH)) missing.push(`the test model (${MODEL_PATH})`);
if (!existsSync(join(ROOT, 'worker', 'node_modules', 'node-llama-cpp'))) missing.push('the worker dependencies (worker/node_modules)');
if (!existsSync(join(ROOT, 'worker', 'node_modules', 'openai'))) missing.push('the openai client (worker/node_modules/openai)');
if (!existsSync(opts.file!)) missing.push(`the QwenService file ${opts.file}`);
if (missing.length) {
  process.stderr.write(`[stack] missing:\n${missing.map((m) => `  - ${m}`).join('\n')}\n[stack] run the setup first: bash scripts/setup.sh (needs npm, go and pip reaching their registries once)\n`);
  process.exit(1);
}

const example = loadYaml(readFileSync(opts.file!, 'utf8')) as KubeObject & { spec: Record<string, unknown> & { alerting?: { receivers?: { name: string; webhook?: unknown }[]; routes?: Record<string, string[]> } } };
const ns = namespaceOf(example);
const name = example.metadata.name;

const procs: { stop(): Promise<void> }[] = [];
const children: ChildProcess[] = [];
let cluster: Cluster | undefined;
let stopping = false;
async function stopAll(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  say('stopping everything this command started ...');
  // Last resort: whatever still runs after 30 s is killed (a hung child must not keep Ctrl-C waiting).
  setTimeout(() => { for (const c of children) c.kill('SIGKILL'); process.exit(code); }, 30_000).unref();
  for (const p of procs.reverse()) await p.stop().catch(() => {});
  await cluster?.stop().catch(() => {});
  say(`stopped${cluster ? ` (logs kept in ${cluster.runDir})` : ''}`);
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void stopAll(0));

function child(label: string, bin: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const fd = openSync(logFile, 'a');
  const c = spawn(bin, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  children.push(c);
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.once('exit', (code, signal) => { if (!stopping) say(`${label} exited (${code ?? signal}); see ${logFile}`); });
  procs.push({ async stop() { if (c.exitCode === null && c.signalCode === null) { c.kill('SIGTERM'); const t = setTimeout(() => c.kill('SIGKILL'), 5_000); await exited; clearTimeout(t); } } });
  return c;
}

function printAlert(n: Notification): void {
  for (const a of n.alerts) {
    const l = a.labels;
    const what = `${l.alertname}${l.slo ? ` slo=${l.slo}` : ''}${l.severity ? ` severity=${l.severity}` : ''} ${l.namespace}/${l.qwenservice ?? ''}`;
    say(`${bold(a.status === 'firing' ? 'ALERT' : 'resolved')} (receiver ${n.receiver}) ${what}${a.annotations.summary ? `: ${a.annotations.summary}` : ''}`);
  }
}

try {
  const t0 = Date.now();
  say('starting the dev cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok GPU nodes) ...');
  // The example asks for two L4 workers: give kwok two L4 nodes besides the default set.
  cluster = await startCluster({
    controllers: true, scheduler: true,
    kwokNodes: [...DEFAULT_NODES, { name: 'kwok-gpu-l4-1', gpus: 1, product: 'NVIDIA-L4' }],
    crds: [join(ROOT, 'crds'), join(cacheDir, 'prometheus-operator-crds')],
  });
  const c = cluster;
  const link = join(cacheDir, 'dev-cluster');
  rmSync(link, { force: true });
  symlinkSync(c.runDir, link);
  const dir = join(c.runDir, 'stack');
  mkdirSync(dir, { recursive: true });
  say(`cluster up in ${Math.round((Date.now() - t0) / 1000)} s; export KUBECONFIG=${c.kubeconfigPath}`);

  // The webhook receiver stands in for every receiver of the example: it is added to both routes.
  const hook: Webhook = await startWebhook();
  hook.onNotification = printAlert;
  procs.push(hook);
  const alerting = example.spec.alerting ?? {};
  const receivers = [...(alerting.receivers ?? []).filter((r) => r.name !== 'local-hook'), { name: 'local-hook', webhook: { url: { secretKeyRef: { name: 'local-hook', key: 'url' } } } }];
  const routes = { critical: [...(alerting.routes?.critical ?? []), 'local-hook'], warning: [...(alerting.routes?.warning ?? []), 'local-hook'] };
  const qws = { ...example, metadata: { name, namespace: ns }, spec: { ...example.spec, alerting: { ...alerting, receivers, routes } } };
  const qwsFile = writeYaml(join(dir, `${name}.yaml`), qws);
  const checked = checkQwenService(qws);
  if (!checked.ok) throw new Error(`${opts.file} is not a valid QwenService: ${checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  const checkedQws = checked.value;

  const explain = await renderCli(qwsFile, 'kube', true).catch((e: unknown) => `(render --explain failed: ${String(e)})`);
  const amConfig = mergeAlertmanagerConfigs([{ namespace: ns, name, text: await renderCli(qwsFile, 'alertmanager') }], hook.url, join(dir, 'am-secrets'));
  const am: Proc = await startAlertmanager(join(dir, 'alertmanager'), amConfig);
  procs.push(am);
  children.push(am.child);
  const prom: Prometheus = await startPrometheus({ dir: join(dir, 'prometheus'), targets: [], alertmanagerURL: am.url, interval: opts.interval });
  procs.push(prom);
  children.push(prom.child);

  say('starting the operator (qwen-operator run --prometheus-url ...) ...');
  child('operator', join(ROOT, 'bin', 'qwen-operator'), ['run', '--kubeconfig', c.kubeconfigPath, '--health-addr', '127.0.0.1:0', '--prometheus-url', prom.url, '--sla-status-interval', '5', '--monitoring-check-interval', '5'], join(dir, 'operator.log'));

  if (ns !== 'default') await create(c, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(() => {});
  for (const s of ['slack', 'hook', 'local-hook']) {
    await create(c, { apiVersion: 'v1', kind: 'Secret', metadata: { name: s, namespace: ns }, stringData: { url: s === 'slack' ? 'https://hooks.slack.invalid/offline' : hook.url } }).catch(() => {});
  }
  await waitFor('the QwenService CRD served', () => kubectl(c, ['get', 'crd', 'qwenservices.qwenops.io']).then((r) => r.code === 0), 30_000);
  await apply(c, qws as KubeObject);
  say(`applied QwenService ${ns}/${name} from ${opts.file}`);

  await waitFor('the worker Deployment', () => get(c, 'apps/v1', 'Deployment', name, ns), 60_000);
  await waitFor('the PrometheusRule', () => list(c, 'monitoring.coreos.com/v1', 'PrometheusRule', ns, `qwenops.io/qwenservice=${name}`).then((l) => l.length > 0), 60_000);
  const args = await deploymentArgs(c, ns, name);
  const modelName = flagValue(args, '--model-name') ?? name;
  say(`starting the worker on loopback with the Deployment's arguments (--slo-buckets ${flagValue(args, '--slo-buckets') ?? '-'}), serving the test model ...`);
  const worker: LocalWorker = await startLocalWorker({ dir, sloBuckets: flagValue(args, '--slo-buckets'), modelName, parallel: Number(flagValue(args, '--parallel') ?? 2) });
  procs.push({ stop: () => worker.kill('SIGTERM') });
  children.push(worker.child);
  worker.child.once('exit', (code, signal) => { if (!stopping) say(`worker exited (${code ?? signal})`); });

  const pod = (await list(c, 'v1', 'Pod', ns, `app.kubernetes.io/instance=${name}`))[0]?.metadata.name ?? `${name}-0`;
  await prom.setRules(await ruleGroupsOf(c, ns, name));
  await prom.setTargets([{ address: new URL(worker.url).host, namespace: ns, service: name, pod }]);

  let loadGen: Load | undefined;
  if (!opts['no-load']) {
    loadGen = steadyLoad(worker.url, { model: modelName, periodMs: 3_000, maxTokens: 16, concurrency: 1 });
    procs.push({ stop: () => loadGen!.stop() });
  }

  const pageLines = slosOf(checkedQws.spec.sla).map((slo) => {
    const seconds = explainPromise(explain, slo.name);
    return `${slo.name.padEnd(26)} ${seconds === undefined ? 'never pages' : `pages after ~${Math.round(seconds / 60)} min of total breach`}`;
  });
  process.stdout.write(`
${bold('qwen-operator local stack is up')} (${Math.round((Date.now() - t0) / 1000)} s)
  kubectl:     export KUBECONFIG=${c.kubeconfigPath}; ${join(binDir, 'kubectl')} get qws -A
  OpenAI API:  ${worker.url}/v1   (model ${modelName}, the test model on CPU)
    curl -s ${worker.url}/v1/chat/completions -H 'content-type: application/json' \\
      -d '{"model":"${modelName}","messages":[{"role":"user","content":"Say hi"}],"max_tokens":16}'
  Prometheus:  ${prom.url}   (rules of PrometheusRule ${ns}/${name}; try ALERTS or ${RECORD_LEVEL}:* series)
  Alertmanager: ${am.url}   alerts print here as they reach the webhook receiver
  Load:        ${opts['no-load'] ? 'none (--no-load): send requests yourself' : 'one chat completion every 3 s (the SLA needs traffic to be measured)'}
  Logs:        ${dir}

${bold('Trigger a breach')}
  freeze the worker (scrapes fail, requests hang):  kill -STOP ${worker.child.pid}     recover: kill -CONT ${worker.child.pid}
  or kill it outright:                                kill ${worker.child.pid}
  What render --explain promises for a total breach (frozen worker: availability, latency, TTFT):
${pageLines.map((l) => `    ${l.trim()}`).join('\n') || '    (see qwen-operator render -f FILE --explain)'}

Ctrl-C stops everything.
`);

  // Progress: `kubectl get qws` whenever it changes (conditions and SLA columns filling in).
  let last = '';
  const show = async () => {
    const r = await kubectl(c, ['get', 'qws', '-n', ns, '-o', 'wide']);
    const text = (r.stdout || r.stderr).trimEnd();
    if (text !== last) {
      last = text;
      say(`kubectl get qws -n ${ns} -o wide  (${new Date().toISOString().slice(11, 19)})\n${text}`);
    }
  };
  await show();
  setInterval(() => void show().catch(() => {}), 5_000);
} catch (err) {
  process.stderr.write(`[stack] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await stopAll(1);
}

// `qwen-operator render` as users run it (the bin shim): every format for the examples,
// --explain, and invalid input.
import { describe, it, expect } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { loadAll, load } from 'js-yaml';

function cli(args: string[], input?: string) {
  const r = spawnSync('bin/qwen-operator', ['render', ...args], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('qwen-operator render', () => {
  it('kube: every owned object of full-sla as multi-document YAML', () => {
    const r = cli(['-f', 'manifests/examples/full-sla.yaml']);
    expect(r.code).toBe(0);
    const kinds = loadAll(r.stdout).filter(Boolean).map((o) => (o as { kind: string }).kind);
    expect(kinds).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule', 'AlertmanagerConfig', 'ConfigMap']));
  });

  it('prometheus-rules: a plain rule file', () => {
    const r = cli(['-f', 'manifests/examples/full-sla.yaml', '--format', 'prometheus-rules']);
    expect(r.code).toBe(0);
    expect((load(r.stdout) as { groups: unknown[] }).groups).toHaveLength(1);
  });

  it('alertmanager: a plain alertmanager.yml with *_file credentials', () => {
    const r = cli(['-f', 'manifests/examples/full-sla.yaml', '--format', 'alertmanager']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('api_url_file: /etc/alertmanager/secrets/slack/url');
  });

  it('grafana: the dashboard JSON', () => {
    const r = cli(['-f', 'manifests/examples/full-sla.yaml', '--format', 'grafana']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).uid).toBe('qwen_team-a_chat');
  });

  it('--explain: tiers kept/dropped and time to page per SLO', () => {
    const r = cli(['-f', 'manifests/examples/full-sla.yaml', '--explain']);
    expect(r.code).toBe(0);
    for (const slo of ['latency-p95', 'latency-p99', 'ttft-p95', 'output-tokens-per-second', 'error-rate', 'availability']) {
      expect(r.stdout).toMatch(new RegExp(`^${slo}: [^\\n]*\\n(  [^\\n]*\\n)*  a total breach pages after ~\\d`, 'm'));
    }
    expect(r.stdout).toMatch(/fast tier added/);
  });

  it('rejects invalid documents and unknown formats', () => {
    const bad = cli(['-f', '-'], 'apiVersion: qwenops.io/v1alpha1\nkind: QwenService\nmetadata: {name: x}\nspec: {sla: {latency: {p95: fast}}}\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/spec\.sla\.latency\.p95/);
    expect(cli(['-f', 'manifests/examples/full-sla.yaml', '--format', 'nope']).code).toBe(2);
    expect(cli([]).code).toBe(2);
  });
});

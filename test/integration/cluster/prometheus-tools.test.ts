// The Prometheus-side tools test/tools/build.sh provides: current Prometheus/promtool/amtool/
// alertmanager built from the module proxy, and Debian's 2023 promtool/amtool, all runnable
// (rule and routing tests run with both generations). No cluster needed.
import { describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolPath } from '../../support/tools.ts';

function run(tool: string, args: string[]): Promise<{ code: number; out: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(toolPath(tool), args, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr, stdout }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'qwen-tools-'));
const rules = join(dir, 'rules.yaml');
writeFileSync(rules, `groups:
- name: t
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
  - alert: Down
    expr: job:up:sum == 0
    for: 1m
    labels: {severity: critical}
`);
const rulesTest = join(dir, 'rules.test.yaml');
writeFileSync(rulesTest, `rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'up{job="w", instance="a"}'
    values: '0x5'
  alert_rule_test:
  - eval_time: 3m
    alertname: Down
    exp_alerts:
    - exp_labels: {severity: critical, job: w}
`);
const am = join(dir, 'alertmanager.yml');
writeFileSync(am, `route:
  receiver: default
  routes:
  - matchers: ['severity="critical"']
    receiver: pager
receivers:
- name: default
- name: pager
`);

describe.each([
  ['promtool', 'amtool', /version 3\.\d+/, /version 0\.3\d/],
  ['promtool-debian', 'amtool-debian', /version 2\.42/, /version 0\.25/],
])('%s / %s', (promtool, amtool, promVersion, amVersion) => {
  test('report their versions', async () => {
    expect((await run(promtool, ['--version'])).out).toMatch(promVersion);
    expect((await run(amtool, ['--version'])).out).toMatch(amVersion);
  });
  test('promtool check rules and test rules', async () => {
    expect(await run(promtool, ['check', 'rules', rules])).toMatchObject({ code: 0 });
    const t = await run(promtool, ['test', 'rules', rulesTest]);
    expect(t.out).toMatch(/SUCCESS/);
    expect(t.code).toBe(0);
  });
  test('amtool check-config and config routes test', async () => {
    expect(await run(amtool, ['check-config', am])).toMatchObject({ code: 0 });
    const r = await run(amtool, ['config', 'routes', 'test', `--config.file=${am}`, 'severity=critical']);
    // (Debian's amtool also warns on stderr that --config.file overrides its /etc alertmanager.url.)
    expect(r.stdout.trim()).toBe('pager');
  });
});

test('prometheus and alertmanager binaries run', async () => {
  expect((await run('prometheus', ['--version'])).out).toMatch(/prometheus, version 3\./);
  expect((await run('alertmanager', ['--version'])).out).toMatch(/alertmanager, version 0\.28/);
  expect((await run('prometheus-debian', ['--version'])).out).toMatch(/version 2\.42/);
  expect((await run('alertmanager-debian', ['--version'])).out).toMatch(/version 0\.25/);
});

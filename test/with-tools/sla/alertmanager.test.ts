// The `alertmanager` output through amtool (every generation present): the config loads, and
// `amtool config routes test` proves each severity reaches exactly its declared receivers.
import { describe, it, expect } from '@jest/globals';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseQwenService } from '../../../src/api/validate.ts';
import { renderAlertmanagerYaml } from '../../../src/sla/alertmanager.ts';
import { binDir } from '../../support/tools.ts';
import { run, tempDir, writeYaml } from '../promtool.ts';
import { fullSla } from '../../unit/sla/fixtures.ts';

const amtools = [
  { name: 'amtool (current)', path: join(binDir, 'amtool'), webhookFiles: true },
  // Debian's 0.25 predates webhook `url_file` (Alertmanager 0.26).
  { name: 'amtool (Debian 0.25)', path: existsSync(join(binDir, 'amtool-debian')) ? join(binDir, 'amtool-debian') : '/usr/bin/amtool', webhookFiles: false },
].filter((a) => existsSync(a.path));
if (!amtools.length) throw new Error(`no amtool found in ${binDir} or /usr/bin: run scripts/setup.sh`);

const allKinds = () => parseQwenService({
  apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a' },
  spec: {
    sla: { errorRate: '1%' },
    alerting: {
      receivers: [
        { name: 'pager', pagerduty: { routingKey: { secretKeyRef: { name: 'pd', key: 'key' } } } },
        { name: 'hook', webhook: { url: { secretKeyRef: { name: 'hook', key: 'url' } } } },
        { name: 'mail', email: { to: 'a@example.com', from: 'am@example.com', smarthost: 'smtp:587', authUsername: 'am', authPassword: { secretKeyRef: { name: 'smtp', key: 'pw' } } } },
        { name: 'unused', slack: { channel: '#x', apiURL: { secretKeyRef: { name: 's', key: 'u' } } } },
      ],
      routes: { critical: ['pager', 'hook'], warning: ['mail'] },
    },
  },
});

const dir = tempDir('amtool');
const routesTest = async (amtool: string, file: string, labels: string[]) => {
  const r = await run(amtool, ['config', 'routes', 'test', `--config.file=${file}`, ...labels]);
  // (Debian's amtool also warns on stderr about its /etc config; the answer is the last line.)
  return r.out.trim().split('\n').filter((l) => !/level=|warn/i.test(l)).pop();
};

describe.each(amtools)('$name', ({ path, webhookFiles }) => {
  const cases = [['full-sla', fullSla()], ...(webhookFiles ? [['all receiver kinds', allKinds()] as const] : [])] as const;

  it.each(cases)('check-config: %s', async (name, qs) => {
    const file = writeYaml(dir, `${name.replace(/\W/g, '-')}.yml`, renderAlertmanagerYaml(qs));
    const r = await run(path, ['check-config', file]);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });

  it('routes full-sla: critical -> oncall + team-mail, warning -> team-mail, others -> nobody', async () => {
    const file = writeYaml(dir, 'routes-full.yml', renderAlertmanagerYaml(fullSla()));
    const base = ['alertname=QwenSLOBudgetBurn', 'namespace=team-a', 'qwenservice=chat', 'slo=latency-p95'];
    expect(await routesTest(path, file, [...base, 'severity=critical'])).toBe('oncall,team-mail');
    expect(await routesTest(path, file, [...base, 'severity=warning'])).toBe('team-mail');
    expect(await routesTest(path, file, ['alertname=QwenSLOMetricsAbsent', 'namespace=team-a', 'qwenservice=chat', 'severity=warning'])).toBe('team-mail');
    // Another service, or the same name in another namespace, is not ours to route.
    expect(await routesTest(path, file, ['namespace=team-a', 'qwenservice=other', 'severity=critical'])).toBe('unrouted');
    expect(await routesTest(path, file, ['namespace=team-b', 'qwenservice=chat', 'severity=critical'])).toBe('unrouted');
  });

  if (webhookFiles) {
    it('routes every receiver kind; an unrouted receiver is not rendered', async () => {
      const am = renderAlertmanagerYaml(allKinds())!;
      const file = writeYaml(dir, 'routes-all.yml', am);
      expect(await routesTest(path, file, ['namespace=team-a', 'qwenservice=chat', 'severity=critical'])).toBe('pager,hook');
      expect(await routesTest(path, file, ['namespace=team-a', 'qwenservice=chat', 'severity=warning'])).toBe('mail');
      expect((am.receivers as { name: string }[]).map((r) => r.name)).toEqual(['unrouted', 'pager', 'hook', 'mail']);
      expect(JSON.stringify(am)).not.toMatch(/"(key|pw|url|u)"/);
    });
  }
});

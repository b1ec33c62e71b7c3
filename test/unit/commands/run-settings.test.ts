import { describe, expect, it } from '@jest/globals';
import { readRunSettings } from '../../../src/commands/run-settings.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';

describe('qwen-operator run settings', () => {
  it('takes flags first, then the environment, then defaults', () => {
    const env = { KUBECONFIG: '/a:/b', WATCH_NAMESPACES: 'x, y', WORKER_IMAGE: 'env-image', PROMETHEUS_URL: 'http://prom:9090', LOG_LEVEL: 'debug' };
    const s = readRunSettings({ 'worker-image': 'flag-image', concurrency: '8' }, env);
    expect(s).toMatchObject({
      kubeconfig: '/a:/b', logLevel: 'debug', namespaces: ['x', 'y'], concurrency: 8,
      monitoringCheckIntervalMs: 30_000, resyncIntervalMs: 600_000,
      health: { host: '0.0.0.0', port: 8081, addr: '0.0.0.0:8081' },
      slaStatus: { prometheusURL: 'http://prom:9090', intervalMs: 30_000 },
      render: { ...defaultRenderConfig, workerImage: 'flag-image', prometheusURL: 'http://prom:9090' },
    });
    expect(s.leaderElection).toBeUndefined();
  });

  it('takes the router image and the KEDA namespaces from --router-image / --keda-namespaces, then ROUTER_IMAGE / KEDA_NAMESPACES', () => {
    expect(readRunSettings({ 'router-image': 'r:flag', 'keda-namespaces': 'keda, ops' }, { ROUTER_IMAGE: 'r:env' }).render).toMatchObject({ routerImage: 'r:flag', kedaNamespaces: ['keda', 'ops'] });
    expect(readRunSettings({}, { ROUTER_IMAGE: 'r:env', KEDA_NAMESPACES: 'keda' }).render).toMatchObject({ routerImage: 'r:env', kedaNamespaces: ['keda'] });
    expect(readRunSettings({}, {}).render).toMatchObject({ routerImage: defaultRenderConfig.routerImage, kedaNamespaces: [] });
  });

  it('takes the CPU path\'s memory bandwidth for sizing from --cpu-memory-bandwidth, CPU_MEMORY_BANDWIDTH_GBPS, else 20 GB/s', () => {
    expect(readRunSettings({}, {}).sizing).toEqual({ cpuBandwidthGBps: 20 });
    expect(readRunSettings({}, { CPU_MEMORY_BANDWIDTH_GBPS: '12.5' }).sizing).toEqual({ cpuBandwidthGBps: 12.5 });
    expect(readRunSettings({ 'cpu-memory-bandwidth': '40' }, { CPU_MEMORY_BANDWIDTH_GBPS: '12.5' }).sizing).toEqual({ cpuBandwidthGBps: 40 });
    expect(() => readRunSettings({ 'cpu-memory-bandwidth': 'fast' }, {})).toThrow('--cpu-memory-bandwidth must be a positive number (got fast)');
  });

  it('runs in-cluster without a kubeconfig and without the SLA loop when no Prometheus is named', () => {
    const s = readRunSettings({}, {});
    expect(s.kubeconfig).toBeUndefined();
    expect(s.slaStatus).toBeUndefined();
    expect(s.render).toEqual(defaultRenderConfig);
  });

  it('builds the leader election from flags and the pod environment', () => {
    const s = readRunSettings({ 'leader-elect': true, 'lease-duration': '20', 'health-addr': '127.0.0.1:0' }, { POD_NAMESPACE: 'qwen-system', POD_NAME: 'op-1' });
    expect(s.leaderElection).toEqual({ namespace: 'qwen-system', name: 'qwen-operator-leader', identity: 'op-1', leaseDurationS: 20, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
    expect(s.health).toEqual({ host: '127.0.0.1', port: 0, addr: '127.0.0.1:0' });
  });

  it('refuses bad values before anything connects', () => {
    expect(() => readRunSettings({ concurrency: '0' }, {})).toThrow('--concurrency must be a positive number (got 0)');
    expect(() => readRunSettings({ 'prometheus-url': 'prom:9090' }, {})).toThrow('--prometheus-url must be an http(s) URL');
    expect(() => readRunSettings({ 'health-addr': 'localhost:99999' }, {})).toThrow('--health-addr must be HOST:PORT');
    expect(() => readRunSettings({ 'leader-elect': true, 'renew-deadline': '20' }, {})).toThrow(/must be longer than the renew deadline/);
    // Timings are only checked against each other under --leader-elect.
    expect(() => readRunSettings({ 'renew-deadline': '20' }, {})).not.toThrow();
  });
});

// Flag parsing: defaults from the contract, durations in seconds or Go syntax, and an error that
// names the flag for every mistake.
import { describe, expect, it } from '@jest/globals';
import { ConfigError, parseConfig, USAGE } from '../src/config.ts';
import { ROUTER_DEFAULT } from '../src/contract.ts';
import { parseDurationSeconds } from '../src/duration.ts';

const U = ['--upstreams', 'http://127.0.0.1:1'];
const fails = (argv: string[]) => { try { parseConfig(argv); } catch (e) { expect(e).toBeInstanceOf(ConfigError); return (e as Error).message; } throw new Error('no error'); };

describe('router flags', () => {
  it('takes the contract defaults', () => {
    const c = parseConfig(U);
    expect(c).toMatchObject({
      host: ROUTER_DEFAULT.host, port: ROUTER_DEFAULT.port, adminPort: ROUTER_DEFAULT.adminPort, scalerPort: undefined,
      affinity: 'Prefix', holdTimeoutS: ROUTER_DEFAULT.holdTimeoutSeconds, maxHeld: ROUTER_DEFAULT.maxHeld,
      upstreams: ['http://127.0.0.1:1'], affinityEpsilon: 0.25, sloBuckets: [], drainTimeoutS: 30, maxBodyBytes: 1 << 20,
    });
  });

  it.each([
    ['120', 120], ['0.5', 0.5], ['2m', 120], ['1m30s', 90], ['500ms', 0.5], ['1h', 3600], ['0', 0], ['1.5s', 1.5],
  ])('hold timeout %s is %d s', (text, seconds) => {
    expect(parseDurationSeconds(text)).toBeCloseTo(seconds, 9);
    expect(parseConfig([...U, '--hold-timeout', text]).holdTimeoutS).toBeCloseTo(seconds, 9);
  });

  it.each(['2 minutes', '-1', '1d', 'm', '', '1m-2s'])('rejects the duration %j', (text) => {
    expect(parseDurationSeconds(text)).toBeUndefined();
    expect(fails([...U, `--hold-timeout=${text}`])).toMatch(/^--hold-timeout: .* is not a duration/);
  });

  it('reads every flag the operator passes', () => {
    const c = parseConfig([
      '--host=127.0.0.1', '--port=0', '--admin-port=0', '--scaler-port=9100', '--namespace=ns', '--workers-service=w', '--workers-port=http',
      '--peers-service=p', '--affinity=None', '--hold-timeout=2m', '--max-held=3', '--api-key-file=/k', '--model-name=m',
      '--slo-buckets=2, 0.5,2', '--drain-timeout=45s', '--affinity-epsilon=0.5', '--max-body-bytes=10',
    ]);
    expect(c).toMatchObject({
      host: '127.0.0.1', port: 0, adminPort: 0, scalerPort: 9100, namespace: 'ns', workersService: 'w', workersPort: 'http', peersService: 'p',
      upstreams: undefined, affinity: 'None', holdTimeoutS: 120, maxHeld: 3, apiKeyFile: '/k', modelName: 'm', sloBuckets: [0.5, 2],
      drainTimeoutS: 45, affinityEpsilon: 0.5, maxBodyBytes: 10,
    });
  });

  it.each([
    [[], /--upstreams: give exactly one of --upstreams and --workers-service/],
    [[...U, '--workers-service', 'w', '--workers-port', 'http'], /give exactly one/],
    [['--workers-service', 'w'], /--workers-port: is needed with --workers-service/],
    [[...U, '--port', '70000'], /--port: must be a port number/],
    [[...U, '--port', 'x'], /--port: must be a port number/],
    [[...U, '--affinity', 'prefix'], /--affinity: must be one of Prefix, None/],
    [[...U, '--max-held=-1'], /--max-held: must be a whole number/],
    [[...U, '--slo-buckets', '1,x'], /--slo-buckets: 'x' is not a positive number of seconds/],
    [['--upstreams', 'https://a,ftp://b'], /--upstreams: 'https:\/\/a' is not an http:\/\/ URL\n--upstreams: 'ftp:\/\/b'/],
    [[...U, '--peers-service', 'p'], /--peers-service: goes with --scaler-port/],
    [[...U, '--affinity-epsilon', '0'], /--affinity-epsilon: must be a number > 0/],
    [[...U, '--nope'], /Unknown option '--nope'/],
  ])('rejects %j', (argv, message) => {
    expect(fails(argv)).toMatch(message);
  });

  it('--help throws the usage text, which names every flag', () => {
    expect(fails(['--help'])).toBe(USAGE);
    for (const f of ['upstreams', 'workers-service', 'workers-port', 'namespace', 'scaler-port', 'peers-service', 'hold-timeout', 'max-held', 'api-key-file', 'slo-buckets', 'drain-timeout', 'affinity-epsilon']) {
      expect(USAGE).toContain(`--${f}`);
    }
  });
});

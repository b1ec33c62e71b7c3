import { describe, expect, it } from '@jest/globals';
import { formatBytes, formatDuration, parseDuration, parsePercent, parseQuantity } from '../../../src/api/units.ts';

describe('units', () => {
  it.each([['3s', 3], ['800ms', 0.8], ['1.5s', 1.5], ['2m', 120], ['30d', 2592000], ['1h', 3600], ['100ms', 0.1]])('parses %s', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });
  it.each(['3', 's', '-1s', '1.s', '3 sec'])('rejects duration %s', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });
  it.each([['99.5%', 0.995], ['0.1%', 0.001], ['95%', 0.95]])('parses percentage %s', (text, ratio) => {
    expect(parsePercent(text)).toBeCloseTo(ratio, 12);
  });
  it('rejects a percentage without %', () => expect(() => parsePercent('0.1')).toThrow(/not a percentage/));
  it.each([[300, '5m'], [3600, '1h'], [2592000, '30d'], [0.8, '800ms'], [90, '90s']])('formats %d s as %s', (s, text) => {
    expect(formatDuration(s)).toBe(text);
  });
  it.each([['2Gi', 2 ** 31], ['512Mi', 2 ** 29], ['1.5G', 1.5e9], ['1e3', 1000], ['+7', 7], ['.5Ki', 512], ['500m', 0.5], [1024, 1024]] as const)('reads quantity %s', (q, value) => {
    expect(parseQuantity(q)).toBe(value);
  });
  it.each(['2GB', '1.5 Gi', 'Gi', '-1'])('rejects quantity %s', (q) => {
    expect(() => parseQuantity(q)).toThrow(/not a quantity/);
  });
  it.each([[2 ** 31, '2Gi'], [3 * 2 ** 20, '3Mi'], [1.5 * 2 ** 30, '1536Mi'], [1e9, '1000000000']])('writes %d bytes as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

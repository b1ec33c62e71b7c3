// One attempt to send a request to one worker: resolves with its response (status and headers
// arrived, body not yet read) or with why it failed. A failure to connect is told apart from
// others: only that one (and a reset of a reused keep-alive socket, which the worker closed
// before reading our request) is sure to have done nothing there, so only it may be retried.
import http from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Endpoint } from './endpoints.ts';

/** A worker that does not accept the connection within this is taken as gone (a pod's address that no longer answers). */
export const CONNECT_TIMEOUT_MS = 5_000;

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE', 'CONNECT_TIMEOUT']);

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

/** `headers` without hop-by-hop ones (and those the Connection header names). */
export function endToEndHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(String(headers.connection ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''));
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

export type Attempt =
  | { ok: true; response: http.IncomingMessage; request: http.ClientRequest }
  /**
   * `connect`: nothing reached the worker, safe to send again; `refused`: and the worker did not
   * even accept a connection (it is gone), unlike a kept-alive socket it closed as we reused it.
   */
  | { ok: false; connect: boolean; refused: boolean; error: Error & { code?: string } };

export type UpstreamRequest = { method: string; path: string; headers: OutgoingHttpHeaders; body: Buffer | undefined };

export function sendUpstream(agent: http.Agent, endpoint: Endpoint, r: UpstreamRequest, signal: AbortSignal): Promise<Attempt> {
  return new Promise((resolve) => {
    const url = new URL(r.path, `${endpoint.url}/`);
    const headers = { ...r.headers };
    if (r.body !== undefined) headers['content-length'] = r.body.length;
    let connected = false;
    let settled = false;
    const settle = (a: Attempt) => { if (!settled) { settled = true; resolve(a); } };
    const request = http.request(url, { method: r.method, headers, agent, signal });
    request.on('socket', (socket) => {
      socket.setNoDelay(true);
      if (!socket.connecting) { connected = true; return; }
      const t = setTimeout(() => request.destroy(Object.assign(new Error(`no connection to ${endpoint.url} within ${CONNECT_TIMEOUT_MS} ms`), { code: 'CONNECT_TIMEOUT' })), CONNECT_TIMEOUT_MS);
      socket.once('connect', () => { connected = true; clearTimeout(t); });
      socket.once('close', () => clearTimeout(t));
    });
    request.on('response', (response) => settle({ ok: true, response, request }));
    request.on('error', (error: Error & { code?: string }) => {
      const code = error.code ?? '';
      const refused = CONNECT_CODES.has(code) && !connected;
      const connect = refused || (request.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE'));
      settle({ ok: false, connect, refused, error });
    });
    request.end(r.body);
  });
}

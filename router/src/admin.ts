// The admin port: /metrics, /healthz, /readyz (ready once listening and until a drain starts — not
// tied to the workers: holding requests while none is ready is the router's job), and
// PEER_LOAD_PATH, this replica's load for its peers' view of the total (the external scaler).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { sendJson } from './api-error.ts';
import { PEER_LOAD_PATH } from './contract.ts';
import type { LoadCounter } from './load.ts';

export class AdminServer {
  readonly server: http.Server;
  private draining = false;
  private readonly opts: { host: string; port: number; registry: Registry; load: LoadCounter };

  constructor(opts: { host: string; port: number; registry: Registry; load: LoadCounter }) {
    this.opts = opts;
    this.server = http.createServer((req, res) => void this.route(req, res));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** /readyz answers 503 from now on (the Service stops sending new requests here). */
  setDraining(): void { this.draining = true; }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: { message: 'method not allowed', type: 'invalid_request_error', param: null, code: null } }, { allow: 'GET' });
    switch (path) {
      case '/healthz': return sendJson(res, 200, { status: 'ok' });
      case '/readyz': return sendJson(res, this.draining ? 503 : 200, { status: this.draining ? 'draining' : 'ready' });
      case PEER_LOAD_PATH: return sendJson(res, 200, this.opts.load.current());
      case '/metrics': {
        const body = await this.opts.registry.metrics();
        res.writeHead(200, { 'content-type': this.opts.registry.contentType, 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      default: return sendJson(res, 404, { error: { message: `no route for ${path}`, type: 'invalid_request_error', param: null, code: 'not_found' } });
    }
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => { this.server.close(() => resolve()); this.server.closeAllConnections(); });
  }
}

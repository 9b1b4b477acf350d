// The HTTP/1.1 endpoints etcd serves next to gRPC: GET /health, /metrics and /version with etcd's
// JSON shapes and status codes. A handler that throws answers 500 and is logged; it never takes the
// server down. The same routes serve --listen-metrics-urls and, through the client listener, the client port.

import http from 'node:http';
import type { Logger } from 'pino';
import { closeServer, listenOn } from './client-listener.js';
import type { ParsedURL } from './config.js';
import type { ServerMetrics } from './metrics.js';

export interface HealthReport {
  readonly health: boolean;
  /** Why the member is unhealthy; empty when healthy. */
  readonly reason: string;
}

export interface VersionInfo {
  readonly etcdserver: string;
  readonly etcdcluster: string;
  readonly netcd: string;
}

export interface HttpEndpointsOptions {
  /**
   * Where the routes are served:
   * - listen URLs: one new server bound to each (--listen-metrics-urls);
   * - an http.Server: the routes are added to it; the caller owns it and it must have no other
   *   request handler;
   * - absent (default): one new server that does not listen, to be fed connections by the client
   *   listener (`servers[0]`).
   */
  readonly urls?: readonly ParsedURL[] | http.Server;
  /** Called for every GET /health; should settle within the prober's patience. */
  readonly health: () => Promise<HealthReport>;
  readonly metrics: ServerMetrics;
  readonly version: VersionInfo;
  readonly logger: Logger;
  /**
   * Servers created here close connections idle for this long, including ones that never finish
   * their request (a server fed by the client listener runs no request-timeout checks). Default 60_000.
   */
  readonly idleTimeoutMs?: number;
}

export interface HttpEndpoints {
  /** The servers carrying the routes (the given one, the unbound one, or one per URL). */
  readonly servers: readonly http.Server[];
  /** Bound addresses when listening on URLs, port 0 resolved; empty otherwise. */
  readonly addresses: readonly ParsedURL[];
  /** Closes the servers created here (and their connections); detaches from a given server. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';

type Route = (options: HttpEndpointsOptions) => Promise<{ status: number; type: string; body: string }>;

const ROUTES: Readonly<Record<string, Route>> = {
  '/health': async (o) => {
    const h = await o.health();
    const body = JSON.stringify({ health: h.health ? 'true' : 'false', reason: h.health ? '' : h.reason });
    return { status: h.health ? 200 : 503, type: JSON_TYPE, body };
  },
  '/metrics': async (o) => ({ status: 200, type: o.metrics.contentType, body: await o.metrics.text() }),
  '/version': async (o) => ({
    status: 200,
    type: JSON_TYPE,
    body: JSON.stringify({
      etcdserver: o.version.etcdserver,
      etcdcluster: o.version.etcdcluster,
      netcd: o.version.netcd,
    }),
  }),
};

/** The request handler on its own, for callers that compose servers themselves. */
export function httpEndpointsHandler(options: HttpEndpointsOptions): http.RequestListener {
  return (req, res) => {
    respond(options, req, res).catch((err: unknown) => {
      options.logger.error({ err, url: req.url }, 'HTTP response failed');
      res.destroy();
    });
  };
}

async function respond(options: HttpEndpointsOptions, req: http.IncomingMessage, res: http.ServerResponse) {
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  const route = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
  if (route === undefined) {
    send(res, 404, TEXT_TYPE, '404 page not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, TEXT_TYPE, 'Method Not Allowed\n');
    return;
  }
  try {
    const r = await route(options);
    send(res, r.status, r.type, r.body);
  } catch (err) {
    options.logger.error({ err, path }, 'HTTP endpoint failed');
    send(res, 500, TEXT_TYPE, 'Internal Server Error\n');
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startHttpEndpoints(options: HttpEndpointsOptions): Promise<HttpEndpoints> {
  const handler = httpEndpointsHandler(options);
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const create = (): http.Server => {
    const server = http.createServer(handler);
    server.timeout = idleTimeoutMs;
    return server;
  };
  const given = options.urls;

  if (given instanceof http.Server) {
    given.on('request', handler);
    let detached = false;
    return {
      servers: [given],
      addresses: [],
      close: async () => {
        if (detached) return;
        detached = true;
        given.off('request', handler);
      },
    };
  }

  const servers: http.Server[] = [];
  const addresses: ParsedURL[] = [];
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= Promise.all(
      servers.map((s) => {
        const stopped = closeServer(s);
        s.closeAllConnections();
        return stopped;
      }),
    ).then(() => {});
    return closing;
  };

  if (given === undefined) {
    servers.push(create());
  } else {
    try {
      for (const url of given) {
        const server = create();
        servers.push(server);
        addresses.push(await listenOn(server, url));
      }
    } catch (e) {
      await close();
      throw e;
    }
    options.logger.info({ urls: addresses.map((a) => a.url) }, 'serving /health, /metrics and /version');
  }
  return { servers, addresses, close };
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@inno-train/core';
import type { Registry } from 'prom-client';
import type { Readiness } from './readiness';

export interface HealthServerOptions {
  /** Address to bind (HEALTH_HOST / METRICS_HOST); loopback by default in every app. */
  host: string;
  /** 0: any free port (the bound one is logged and returned). */
  port: number;
  registry: Registry;
  /** What /readyz answers; unset: ready whenever alive. */
  ready?: () => Promise<Readiness>;
  logger: Logger;
  /** Names the server in its log line ("health server", "metrics server"). */
  name?: string;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));

async function route(req: IncomingMessage, res: ServerResponse, options: HealthServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' });
  if (path === '/livez') return json(res, 200, { status: 'ok' });
  if (path === '/readyz') {
    const readiness = options.ready ? await options.ready() : { ready: true, checks: {} };
    return json(res, readiness.ready ? 200 : 503, { status: readiness.ready ? 'ok' : 'unavailable', checks: readiness.checks });
  }
  if (path === '/metrics') return send(res, 200, options.registry.contentType, await options.registry.metrics());
  return json(res, 404, { error: 'not found', paths: ['/livez', '/readyz', '/metrics'] });
}

/**
 * A small node:http server for probes and scrapes, apart from any public port: /livez (the process
 * answers: never depends on Redis, so an outage does not get every pod restarted), /readyz (it can
 * do work now: Redis answers, its workers run) and /metrics (Prometheus text format).
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    route(req, res, options).catch((err: unknown) => {
      options.logger.error({ err, path: req.url }, `${options.name ?? 'health server'} failed to answer ${req.url}`);
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.end();
    });
  });
  // Probes and scrapers open a connection per request; nothing here streams.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const name = options.name ?? 'health server';
  options.logger.info({ port, host: options.host, healthServer: name }, `${name} listening on http://${options.host}:${port}`);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Starts the health server when a port is configured (HEALTH_PORT / METRICS_PORT); unset: none. */
export async function serveHealth(port: number | undefined, options: Omit<HealthServerOptions, 'port'>): Promise<HealthServer | undefined> {
  return port === undefined ? undefined : startHealthServer({ ...options, port });
}

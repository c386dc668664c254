import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { METRICS, STAGE_SECONDS_BUCKETS } from './definitions';

/** A job left status `from` for `to` after `seconds` in it (null: the time could not be read). */
export interface StatusChangeRecord {
  from: string;
  to: string;
  seconds: number | null;
}

/** One Lambda API attempt: the client's operation name and the HTTP status (or `timeout`, `network`). */
export interface LambdaRequestRecord {
  operation: string;
  code: string;
}

/** One SSH executor call after it settled (the executor's SshSessionRecord fits). */
export interface SshSessionInfo {
  kind: string;
  label?: string;
  ok: boolean;
  errorCode?: string;
}

/**
 * What the other packages are told to call. Plain functions over plain records, so no package but
 * this one imports prom-client: the job store, the Lambda client, the SSH executor, the reconciler
 * and the webhook worker each take one of these as an optional callback. None of them throws.
 */
export interface TelemetryHooks {
  onStatusChange(change: StatusChangeRecord): void;
  onLambdaRequest(request: LambdaRequestRecord): void;
  onSshSession(session: SshSessionInfo): void;
  /** A job was settled by this process with this final cost. */
  onJobSettled(usd: number): void;
  onOrphanTerminated(reason: string): void;
  onWebhookDelivery(result: string): void;
}

export interface TelemetryOptions {
  /** The `app` label on every series (api, provisioner, transfer, monitor, all-in-one). */
  app: string;
  /** prom-client's process metrics (CPU, memory, event loop lag, handles); default on. */
  defaultMetrics?: boolean;
}

/** One process's metrics: its registry (served at /metrics) and the hooks that feed it. */
export interface Telemetry {
  registry: Registry;
  hooks: TelemetryHooks;
  /** Counts a scrape-time read that failed (the Redis gauges). */
  countScrapeError(metric: string): void;
}

/** Anything a label may not carry: too long, odd characters, or an id-like run of hex (a job id). */
const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:_./-]{0,63}$/;
const ID_LIKE = /[0-9a-f]{12,}/i;

/**
 * A label value from a closed set, or `other`. Callers pass constants (statuses, call labels, HTTP
 * codes); this guard keeps one stray id from turning into a series per job.
 */
export function labelValue(value: string | undefined, fallback = 'other'): string {
  if (value === undefined || value === '') return fallback;
  return LABEL_PATTERN.test(value) && !ID_LIKE.test(value) ? value : 'other';
}

function counter(registry: Registry, key: keyof typeof METRICS): Counter<string> {
  const def = METRICS[key];
  return new Counter({ name: def.name, help: def.help, labelNames: [...def.labels], registers: [registry] });
}

/** Creates a process's registry with every counter and histogram (the Redis gauges: see gauges.ts). */
export function createTelemetry(options: TelemetryOptions): Telemetry {
  const registry = new Registry();
  registry.setDefaultLabels({ app: options.app });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const stage = new Histogram({
    name: METRICS.jobStageSeconds.name,
    help: METRICS.jobStageSeconds.help,
    labelNames: [...METRICS.jobStageSeconds.labels],
    buckets: STAGE_SECONDS_BUCKETS,
    registers: [registry],
  });
  const lambdaRequests = counter(registry, 'lambdaRequests');
  const lambdaRateLimited = counter(registry, 'lambdaRateLimited');
  const sshSessions = counter(registry, 'sshSessions');
  const cost = counter(registry, 'costUsd');
  const orphans = counter(registry, 'orphansTerminated');
  const webhooks = counter(registry, 'webhookDeliveries');
  const scrapeErrors = counter(registry, 'scrapeErrors');
  const hooks: TelemetryHooks = {
    onStatusChange(change) {
      if (change.seconds === null || !Number.isFinite(change.seconds)) return;
      stage.observe({ stage: labelValue(change.from) }, Math.max(0, change.seconds));
    },
    onLambdaRequest(request) {
      lambdaRequests.inc({ endpoint: labelValue(request.operation), code: labelValue(request.code) });
      if (request.code === '429') lambdaRateLimited.inc();
    },
    onSshSession(session) {
      const result = session.ok ? 'ok' : labelValue(session.errorCode, 'error');
      sshSessions.inc({ label: labelValue(session.label, session.kind), result });
    },
    onJobSettled(usd) {
      if (Number.isFinite(usd) && usd > 0) cost.inc(usd);
    },
    onOrphanTerminated(reason) {
      orphans.inc({ reason: labelValue(reason) });
    },
    onWebhookDelivery(result) {
      webhooks.inc({ result: labelValue(result) });
    },
  };
  return { registry, hooks, countScrapeError: (metric) => scrapeErrors.inc({ metric: labelValue(metric) }) };
}

/**
 * Every metric inno-train serves, declared once: name, type, labels and help text. The README's
 * "Metrics and health" table and the Grafana dashboard (deploy/grafana/inno-train.json) read these
 * names; a test checks each one is registered. Label values always come from closed sets (statuses,
 * stages, queue names, operation names, SSH call labels, HTTP codes): never a job id, URL or key.
 */
export const METRICS = {
  jobs: {
    name: 'inno_jobs',
    type: 'gauge',
    labels: ['status'],
    help: "Jobs in the job store by status, read from the store's status index at scrape time (served by the API only).",
  },
  jobStageSeconds: {
    name: 'inno_job_stage_seconds',
    type: 'histogram',
    labels: ['stage'],
    help: 'Time a job spent in a status (the stage label), observed by the process that moved it out of that status.',
  },
  queueJobs: {
    name: 'inno_queue_jobs',
    type: 'gauge',
    labels: ['queue', 'state'],
    help: 'BullMQ jobs by queue and state (getJobCounts at scrape time; served by the API only).',
  },
  lambdaRequests: {
    name: 'inno_lambda_requests_total',
    type: 'counter',
    labels: ['endpoint', 'code'],
    help: 'Lambda Cloud API requests sent (every attempt, retries included) by operation and HTTP status (timeout, network: no answer).',
  },
  lambdaRateLimited: {
    name: 'inno_lambda_rate_limited_total',
    type: 'counter',
    labels: [],
    help: 'Lambda Cloud API answers 429 (rate limited).',
  },
  sshSessions: {
    name: 'inno_ssh_sessions_total',
    type: 'counter',
    labels: ['label', 'result'],
    help: 'SSH executor calls (exec, upload, stream) by call label and result (ok, or the error code).',
  },
  instances: {
    name: 'inno_instances',
    type: 'gauge',
    labels: ['status'],
    help: "This installation's cloud instances by cloud status, from the provisioner's shared listing (served by the API only).",
  },
  costUsd: {
    name: 'inno_cost_usd_total',
    type: 'counter',
    labels: [],
    help: 'Final cost (USD) of the jobs this process settled (every instance confirmed terminated).',
  },
  orphansTerminated: {
    name: 'inno_orphans_terminated_total',
    type: 'counter',
    labels: ['reason'],
    help: 'Instances the reconciler terminated, by reason (unknown_job, job_finished, orphan, retired, past_deadline).',
  },
  webhookDeliveries: {
    name: 'inno_webhook_deliveries_total',
    type: 'counter',
    labels: ['result'],
    help: 'Webhook delivery attempts by result (delivered, failed: will retry, gave_up: last attempt failed, skipped).',
  },
  scrapeErrors: {
    name: 'inno_scrape_errors_total',
    type: 'counter',
    labels: ['metric'],
    help: 'Scrape-time reads (Redis gauges) that failed; the gauge is left empty for that scrape.',
  },
} as const satisfies Record<string, { name: string; type: 'gauge' | 'counter' | 'histogram'; labels: readonly string[]; help: string }>;

export type MetricKey = keyof typeof METRICS;

/**
 * Buckets of inno_job_stage_seconds (seconds): a queued job may wait milliseconds (tests) or hours
 * (a tenant at its limit); training runs from seconds (tests) to days.
 */
export const STAGE_SECONDS_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 48 * 3600];

/** BullMQ states counted by inno_queue_jobs. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed', 'paused'] as const;

import { createLogger } from '@inno-train/core';
import { createTelemetry, labelValue, METRICS, registerStoreGauges, type StoreReaders } from '../src';

const logger = createLogger({ name: 'telemetry-test', level: 'silent' });

/** The value of one series (`name{a="b",...}`, labels in any order) in a registry's text output, or undefined. */
function sample(text: string, series: string): number | undefined {
  const key = (name: string, labels: string) => `${name}{${labels.split(',').filter(Boolean).sort().join(',')}}`;
  const [, wantName, wantLabels] = /^([^{]+)\{(.*)\}$/.exec(series) ?? [];
  for (const line of text.split('\n')) {
    const match = /^([^{\s]+)\{(.*)\} (\S+)$/.exec(line);
    if (match && key(match[1]!, match[2]!) === key(wantName!, wantLabels!)) return Number(match[3]);
  }
  return undefined;
}

const readers = (over: Partial<StoreReaders> = {}): StoreReaders => ({
  jobCounts: async () => ({ queued: 2, succeeded: 5 }),
  queueCounts: async () => ({ 'inno-provisioning': { waiting: 1, delayed: 3 } }),
  instanceCounts: async () => ({ active: 4 }),
  ...over,
});

describe('telemetry', () => {
  it('keeps label values to closed sets: an id, a URL or an odd value becomes "other"', () => {
    expect(labelValue('stage-in:prepare')).toBe('stage-in:prepare');
    expect(labelValue('getInstance')).toBe('getInstance');
    expect(labelValue('429')).toBe('429');
    expect(labelValue('0197a1b2c3d4e5f6a7b8c9d0e1f2a3b4')).toBe('other');
    expect(labelValue('https://cloud.lambda.ai/api/v1/instances?key=secret')).toBe('other');
    expect(labelValue('x'.repeat(65))).toBe('other');
    expect(labelValue(undefined, 'exec')).toBe('exec');
  });

  it('counts what the hooks are told, with the app label on every series', async () => {
    const telemetry = createTelemetry({ app: 'provisioner', defaultMetrics: false });
    const { hooks } = telemetry;
    hooks.onLambdaRequest({ operation: 'launch', code: '200' });
    hooks.onLambdaRequest({ operation: 'listInstances', code: '429' });
    hooks.onLambdaRequest({ operation: 'listInstances', code: '429' });
    hooks.onSshSession({ kind: 'exec', label: 'train:poll', ok: true });
    hooks.onSshSession({ kind: 'upload', ok: false, errorCode: 'ssh_timeout' });
    hooks.onStatusChange({ from: 'queued', to: 'provisioning', seconds: 0.2 });
    hooks.onStatusChange({ from: 'training', to: 'staging_out', seconds: 7 });
    hooks.onStatusChange({ from: 'training', to: 'failed', seconds: null });
    hooks.onJobSettled(0.25);
    hooks.onJobSettled(0);
    hooks.onOrphanTerminated('unknown_job');
    hooks.onWebhookDelivery('delivered');
    const text = await telemetry.registry.metrics();
    expect(sample(text, 'inno_lambda_requests_total{endpoint="launch",code="200",app="provisioner"}')).toBe(1);
    expect(sample(text, 'inno_lambda_requests_total{endpoint="listInstances",code="429",app="provisioner"}')).toBe(2);
    expect(sample(text, 'inno_lambda_rate_limited_total{app="provisioner"}')).toBe(2);
    expect(sample(text, 'inno_ssh_sessions_total{label="train:poll",result="ok",app="provisioner"}')).toBe(1);
    expect(sample(text, 'inno_ssh_sessions_total{label="upload",result="ssh_timeout",app="provisioner"}')).toBe(1);
    expect(sample(text, 'inno_job_stage_seconds_count{stage="queued",app="provisioner"}')).toBe(1);
    // An unknown time is not observed as zero.
    expect(sample(text, 'inno_job_stage_seconds_count{stage="training",app="provisioner"}')).toBe(1);
    expect(sample(text, 'inno_job_stage_seconds_sum{stage="training",app="provisioner"}')).toBe(7);
    expect(sample(text, 'inno_job_stage_seconds_bucket{le="5",stage="training",app="provisioner"}')).toBe(0);
    expect(sample(text, 'inno_job_stage_seconds_bucket{le="15",stage="training",app="provisioner"}')).toBe(1);
    expect(sample(text, 'inno_cost_usd_total{app="provisioner"}')).toBe(0.25);
    expect(sample(text, 'inno_orphans_terminated_total{reason="unknown_job",app="provisioner"}')).toBe(1);
    expect(sample(text, 'inno_webhook_deliveries_total{result="delivered",app="provisioner"}')).toBe(1);
    expect(text).not.toContain('process_cpu');
  });

  it("serves prom-client's process metrics by default", async () => {
    const text = await createTelemetry({ app: 'api' }).registry.metrics();
    expect(text).toContain('process_cpu_user_seconds_total{app="api"}');
    expect(text).toContain('nodejs_eventloop_lag_seconds{app="api"}');
  });

  it('declares help text and type for every metric it serves', async () => {
    const telemetry = createTelemetry({ app: 'api', defaultMetrics: false });
    registerStoreGauges(telemetry, readers(), logger);
    const text = await telemetry.registry.metrics();
    for (const def of Object.values(METRICS)) {
      expect(text).toContain(`# HELP ${def.name} ${def.help}`);
      expect(text).toContain(`# TYPE ${def.name} ${def.type}`);
    }
  });

  it('reads the Redis gauges at scrape time, so each scrape shows the counts as they are then', async () => {
    const telemetry = createTelemetry({ app: 'api', defaultMetrics: false });
    let queued = 2;
    registerStoreGauges(telemetry, readers({ jobCounts: async () => ({ queued, succeeded: 5 }) }), logger);
    let text = await telemetry.registry.metrics();
    expect(sample(text, 'inno_jobs{status="queued",app="api"}')).toBe(2);
    expect(sample(text, 'inno_jobs{status="succeeded",app="api"}')).toBe(5);
    expect(sample(text, 'inno_queue_jobs{queue="inno-provisioning",state="delayed",app="api"}')).toBe(3);
    expect(sample(text, 'inno_instances{status="active",app="api"}')).toBe(4);
    queued = 0;
    text = await telemetry.registry.metrics();
    expect(sample(text, 'inno_jobs{status="queued",app="api"}')).toBe(0);
  });

  it('leaves a gauge empty (not zero) when its read fails, counts the failure, and still serves the rest', async () => {
    const telemetry = createTelemetry({ app: 'api', defaultMetrics: false });
    let failing = false;
    const jobCounts = async () => {
      if (failing) throw new Error('Connection is closed.');
      return { queued: 1 };
    };
    registerStoreGauges(telemetry, readers({ jobCounts }), logger);
    expect(sample(await telemetry.registry.metrics(), 'inno_jobs{status="queued",app="api"}')).toBe(1);
    failing = true;
    const text = await telemetry.registry.metrics();
    expect(sample(text, 'inno_jobs{status="queued",app="api"}')).toBeUndefined();
    expect(sample(text, 'inno_instances{status="active",app="api"}')).toBe(4);
    // Counted while that scrape was being answered, so it shows from the next scrape on.
    expect(sample(await telemetry.registry.metrics(), 'inno_scrape_errors_total{metric="inno_jobs",app="api"}')).toBe(1);
  });
});

import type { Job, JobEvent } from '@inno-train/client';
import { formatBytes, formatRate, formatSummary, lossesFromLog, ProgressPrinter, renderProgress, stageDurations } from '../src';
import { publicJob } from './fixtures';

const job = (overrides: Partial<Job> = {}): Job => publicJob(overrides);

const instance = {
  id: 'i-1',
  type: 'gpu_1x_a10',
  region: 'us-west-1',
  ip: '127.0.0.1',
  status: 'active',
  launchedAt: '2025-01-01T10:00:01.000Z',
  terminatedAt: null,
  priceCentsPerHour: 75,
};

describe('renderProgress', () => {
  it('shows a queued job with no progress as an empty bar', () => {
    const line = renderProgress(job(), 1234, 80);
    expect(line).toBe('queued      [..............................]     -/-  loss -    1.2s');
    expect(line.length).toBeLessThan(80);
  });

  it('shows training at step 30/100 with its loss and accuracy', () => {
    const line = renderProgress(
      job({ status: 'training', progress: { step: 30, totalSteps: 100, epoch: 2, loss: 0.51234, accuracy: 0.8 } }),
      12_345,
      100,
    );
    expect(line).toBe(`training    [${'#'.repeat(9)}${'.'.repeat(21)}]  30/100  loss 0.5123  acc 0.800   12.3s`);
  });

  it('shows a succeeded job as a full bar', () => {
    const line = renderProgress(job({ status: 'succeeded', progress: { step: 100, totalSteps: 100, loss: 0.3386 } }), 20_000, 80);
    expect(line).toContain(`succeeded   [${'#'.repeat(30)}]`);
    expect(line).toContain('100/100  loss 0.3386');
    expect(line.endsWith('20.0s')).toBe(true);
  });

  it('shrinks the bar, then drops it, to stay within a narrow terminal', () => {
    const training = job({ status: 'staging_out', progress: { step: 7, loss: 12.5 } });
    const medium = renderProgress(training, 0, 50);
    expect(medium.length).toBeLessThanOrEqual(49);
    expect(medium).toMatch(/^staging_out \[\.+\]     7\/\? {2}loss 12\.5000 {4}0\.0s$/);
    const narrow = renderProgress(training, 0, 30);
    expect(narrow.length).toBeLessThanOrEqual(29);
    expect(narrow).not.toContain('[');
  });
});

describe('renderProgress during a transfer', () => {
  const GiB = 1024 ** 3;
  const transfer = (overrides: Partial<NonNullable<Job['transfer']>> = {}): NonNullable<Job['transfer']> => ({
    stage: 'staging_in',
    bytesDone: Math.round(1.2 * GiB),
    bytesTotal: 2 * GiB,
    bytesPerSecond: 180e6,
    filesDone: 3,
    files: 5,
    updatedAt: '2025-01-01T10:00:05.000Z',
    ...overrides,
  });

  it('fills the bar with the bytes done of the total and shows them with the rate', () => {
    const line = renderProgress(job({ status: 'staging_in', transfer: transfer() }), 12_345, 100);
    expect(line).toBe(`staging_in  [${'#'.repeat(18)}${'.'.repeat(12)}] 1.2 GiB / 2.0 GiB · 171.7 MiB/s   12.3s`);
  });

  it('shows staging_out the same way, and an unknown total as "?" with an empty bar', () => {
    const out = transfer({ stage: 'staging_out', bytesDone: 5 * 1024 ** 2, bytesTotal: 0, bytesPerSecond: 0 });
    const line = renderProgress(job({ status: 'staging_out', transfer: out }), 0, 100);
    expect(line).toBe(`staging_out [${'.'.repeat(30)}] 5.0 MiB / ? · 0 B/s    0.0s`);
  });

  it('ignores the figures an earlier stage left: training and staging_out before it reports show as before', () => {
    const progress = { step: 30, totalSteps: 100, loss: 0.5 };
    const left = transfer({ bytesDone: 2 * GiB });
    expect(renderProgress(job({ status: 'training', progress, transfer: left }), 1000, 100)).toBe(
      renderProgress(job({ status: 'training', progress }), 1000, 100),
    );
    const staging = renderProgress(job({ status: 'staging_out', progress, transfer: left }), 1000, 100);
    expect(staging).toContain(' 30/100  loss 0.5000');
    expect(staging).not.toContain('GiB');
  });

  it('keeps a full transfer bar full, and stays within a narrow terminal', () => {
    const done = job({ status: 'staging_out', transfer: transfer({ stage: 'staging_out', bytesDone: 3 * GiB, bytesTotal: 2 * GiB }) });
    expect(renderProgress(done, 0, 100)).toContain(`[${'#'.repeat(30)}]`);
    for (const width of [30, 50, 70]) expect(renderProgress(done, 0, width).length).toBeLessThanOrEqual(width - 1);
  });

  it('formats sizes up to GiB and rates in the same units', () => {
    expect([formatBytes(512), formatBytes(1536), formatBytes(5 * 1024 ** 2), formatBytes(2.5 * GiB)]).toEqual([
      '512 B',
      '1.5 KiB',
      '5.0 MiB',
      '2.5 GiB',
    ]);
    expect([formatRate(0), formatRate(99.6), formatRate(180e6), formatRate(-1)]).toEqual(['0 B/s', '100 B/s', '171.7 MiB/s', '0 B/s']);
  });
});

describe('ProgressPrinter', () => {
  it('in a pipe, prints a line only when the status or step changes', () => {
    const written: string[] = [];
    const printer = new ProgressPrinter({ write: (text: string) => written.push(text), isTTY: false });
    printer.progress(job(), 100);
    printer.progress(job(), 400);
    printer.progress(job({ status: 'training', progress: { step: 1, totalSteps: 10 } }), 700);
    printer.progress(job({ status: 'training', progress: { step: 1, totalSteps: 10 } }), 1000);
    printer.line('an event');
    expect(written.map((t) => t.trimEnd().split(/\s+/)[0])).toEqual(['queued', 'training', 'an']);
  });

  it('on a terminal, redraws in place and clears the line before an event', () => {
    const written: string[] = [];
    const printer = new ProgressPrinter({ write: (text: string) => written.push(text), isTTY: true, columns: 60 });
    printer.progress(job(), 100);
    printer.line('event');
    printer.progress(job(), 200);
    printer.finish();
    expect(written[0]).toMatch(/^\r\x1b\[Kqueued/);
    expect(written.slice(1, 3)).toEqual(['\r\x1b[K', 'event\n']);
    expect(written.at(-1)).toBe('\n');
  });
});

describe('the closing report', () => {
  const log = [
    'python 3.11; 400 train rows',
    '{"step": 1, "total_steps": 2, "loss": 0.78}',
    '{"not": "metrics"}',
    '{"step": 2, "total_steps": 2, "loss": 0.34}',
    'done',
  ].join('\n');
  const at = (s: number) => new Date(Date.UTC(2025, 0, 1, 10, 0, s)).toISOString();
  const events: JobEvent[] = [
    { id: 1, at: at(0), type: 'status', stage: 'submit', message: 'queued', data: { status: 'queued' } },
    { id: 2, at: at(1), type: 'status', stage: 'provisioning', message: 'p', data: { status: 'provisioning' } },
    { id: 3, at: at(4), type: 'instance', stage: 'provisioning', message: 'ssh ok' },
    { id: 4, at: at(5), type: 'status', stage: 'training', message: 't', data: { status: 'training' } },
    { id: 5, at: at(14), type: 'status', stage: 'training', message: 's', data: { status: 'succeeded' } },
  ];

  it('reads the loss curve from the log and the stage times from the status events', () => {
    expect(lossesFromLog(log)).toEqual({ first: 0.78, last: 0.34, steps: 2 });
    expect(lossesFromLog('no metrics here')).toBeNull();
    expect(stageDurations(events)).toEqual([
      { status: 'queued', ms: 1000 },
      { status: 'provisioning', ms: 4000 },
      { status: 'training', ms: 9000 },
    ]);
  });

  it('reports a success with outputs and the instance lifetime', () => {
    const done = job({
      status: 'succeeded',
      instance: { ...instance, status: 'terminated', terminatedAt: '2025-01-01T10:00:13.500Z' },
      outputs: [
        { key: 'jobs/j/output/model.json', size: 4096 },
        { key: 'jobs/j/output/eval.json', size: 60 },
      ],
    });
    const text = formatSummary({ job: done, wallMs: 14_000, losses: lossesFromLog(log), events, log }).join('\n');
    expect(text).toContain('succeeded after 14.0s');
    expect(text).toContain('loss: 0.7800 -> 0.3400 over 2 steps');
    expect(text).toContain('stages: queued 1.0s, provisioning 4.0s, training 9.0s');
    expect(text).toMatch(/jobs\/j\/output\/model\.json +4\.0 KiB/);
    expect(text).toContain('gpu_1x_a10 in us-west-1 (i-1), $0.75/h, alive 12.5s');
    expect(text).not.toContain('error');
  });

  it('reports a failure with its error and the last 20 lines of the log', () => {
    const failLog = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n');
    const failed = job({ status: 'failed', error: { code: 'training_failed', stage: 'training', message: 'exited with code 3' } });
    const lines = formatSummary({ job: failed, wallMs: 5000, losses: null, events: [], log: failLog });
    expect(lines).toContain('  error: training_failed (training): exited with code 3');
    expect(lines.filter((l) => l.startsWith('    | '))).toHaveLength(20);
    expect(lines.at(-1)).toBe('    | line 30');
    expect(lines).toContain('  instance: none was launched');
  });
});

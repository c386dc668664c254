import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const assets = join(__dirname, '..', 'assets');
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'demo-train-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Metrics {
  step: number;
  total_steps: number;
  epoch: number;
  loss: number;
  accuracy: number;
}

/** Runs train.py the way the host wrapper does: env paths, a rendered config.yaml, cwd = job dir. */
function runTrain(configYaml: string, extraEnv: Record<string, string> = {}) {
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, configYaml);
  const started = Date.now();
  const result = spawnSync('python3', [join(assets, 'train.py')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      INPUT_TRAIN: join(assets, 'train.csv'),
      INPUT_EVAL: join(assets, 'eval.csv'),
      CONFIG_PATH: configPath,
      OUTPUT_DIR: join(dir, 'output'),
      ...extraEnv,
    },
  });
  const metrics = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Metrics);
  return { ...result, metrics, ms: Date.now() - started };
}

describe('assets/train.py', () => {
  it('learns the bundled dataset: loss falls, eval accuracy is high, outputs are written', () => {
    // The YAML the service renders from the demo's JSON config (apps/transfer stringify()).
    const run = runTrain('epochs: 8\nlr: 0.3\nbatch_size: 32\n');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.metrics).toHaveLength(104);
    expect(run.metrics.map((m) => m.step)).toEqual(Array.from({ length: 104 }, (_, i) => i + 1));
    expect(run.metrics.every((m) => m.total_steps === 104)).toBe(true);
    expect(run.metrics.at(-1)?.epoch).toBe(8);
    const first = run.metrics[0]!.loss;
    const last = run.metrics.at(-1)!.loss;
    expect(last).toBeLessThan(first * 0.7);
    expect(run.metrics.at(-1)!.accuracy).toBeGreaterThan(0.8);

    const output = join(dir, 'output');
    const evalResult = JSON.parse(readFileSync(join(output, 'eval.json'), 'utf8')) as { accuracy: number; rows: number };
    expect(evalResult.rows).toBe(200);
    expect(evalResult.accuracy).toBeGreaterThan(0.8);
    const model = JSON.parse(readFileSync(join(output, 'model.json'), 'utf8')) as { weights: { w1: number[][] }; final: { loss: number } };
    expect(model.weights.w1).toHaveLength(12);
    expect(model.final.loss).toBeCloseTo(last, 4);
    const csv = readFileSync(join(output, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('step,loss,accuracy');
    expect(csv).toHaveLength(105);
    // Watchable: the per-step pause (104 x 70 ms) is there. How fast it runs beyond that depends on
    // the machine's load, so it is printed, not asserted.
    expect(run.ms).toBeGreaterThan(5_000);
    process.stdout.write(`train.py: ${run.ms} ms, loss ${first} -> ${last}, eval accuracy ${evalResult.accuracy}\n`);
  });

  it('reads only the keys it knows, tolerates YAML it does not parse, and honours batch_size and epochs', () => {
    const yaml = [
      '# rendered by the service',
      'epochs: 2',
      'batch_size: 50',
      'lr: "0.3"',
      'step_delay: 0',
      'optimizer:',
      '  name: sgd',
      'tags:',
      '  - demo',
      '',
    ].join('\n');
    const run = runTrain(yaml);
    expect(run.status).toBe(0);
    expect(run.metrics).toHaveLength(16);
    expect(run.metrics.at(-1)).toMatchObject({ step: 16, total_steps: 16, epoch: 2 });
    expect(existsSync(join(dir, 'output', 'model.json'))).toBe(true);
  });

  it('falls back to its defaults without a config file', () => {
    const run = runTrain('', { CONFIG_PATH: join(dir, 'missing.yaml') });
    expect(run.status).toBe(0);
    expect(run.metrics.at(-1)).toMatchObject({ step: 104, total_steps: 104, epoch: 8 });
  });
});

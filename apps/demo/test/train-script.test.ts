import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
function runTrain(configYaml: string, extraEnv: Record<string, string> = {}, jobDir = dir) {
  const configPath = join(jobDir, 'config.yaml');
  writeFileSync(configPath, configYaml);
  const started = Date.now();
  const result = spawnSync('python3', [join(assets, 'train.py')], {
    cwd: jobDir,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      INPUT_TRAIN: join(assets, 'train.csv'),
      INPUT_EVAL: join(assets, 'eval.csv'),
      CONFIG_PATH: configPath,
      OUTPUT_DIR: join(jobDir, 'output'),
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
    // No CHECKPOINT_DIR (a run by hand): no checkpoints anywhere.
    expect(readdirSync(dir).sort()).toEqual(['config.yaml', 'output']);
  });

  it('falls back to its defaults without a config file', () => {
    const run = runTrain('', { CONFIG_PATH: join(dir, 'missing.yaml') });
    expect(run.status).toBe(0);
    expect(run.metrics.at(-1)).toMatchObject({ step: 104, total_steps: 104, epoch: 8 });
  });
});

/** Checkpoints: the fast config, so a run takes about a second. 8 epochs of 13 steps. */
const FAST = 'epochs: 8\nlr: 0.3\nbatch_size: 32\nstep_delay: 0\n';
const OUTPUT_FILES = ['eval.json', 'metrics.csv', 'model.json'];

/** The output files' bytes, by name. */
function outputs(outputDir: string): Record<string, string> {
  expect(readdirSync(outputDir).sort()).toEqual(OUTPUT_FILES);
  return Object.fromEntries(OUTPUT_FILES.map((name) => [name, readFileSync(join(outputDir, name), 'utf8')]));
}

interface CheckpointState {
  epoch: number;
  step: number;
  model: { w1: number[][] };
  velocity: { w1: number[][] };
  rng: unknown[];
  order: number[];
  history: number[][];
}

function checkpointState(entry: string): CheckpointState {
  return JSON.parse(readFileSync(join(entry, 'checkpoint.json'), 'utf8')) as CheckpointState;
}

function doneLines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => /^epoch \d+\/\d+ done/.test(line));
}

describe('assets/train.py checkpoints', () => {
  // One uninterrupted checkpointed run, the reference for every resumed one.
  let fullDir: string;
  let full: ReturnType<typeof runTrain>;

  beforeAll(() => {
    fullDir = mkdtempSync(join(tmpdir(), 'demo-train-full-'));
    mkdirSync(join(fullDir, 'checkpoints'));
    full = runTrain(FAST, { CHECKPOINT_DIR: join(fullDir, 'checkpoints') }, fullDir);
  });

  afterAll(() => {
    rmSync(fullDir, { recursive: true, force: true });
  });

  it('saves epoch-N/ (checkpoint.json, then .complete) after each epoch, keeps the last 2, and trains as without', () => {
    expect(full.stderr).toBe('');
    expect(full.status).toBe(0);
    expect(full.metrics).toHaveLength(104);
    // Rotation: of epoch-1..epoch-8 only the last two are left, and no half-written (dot) entry.
    const checkpoints = join(fullDir, 'checkpoints');
    expect(readdirSync(checkpoints).sort()).toEqual(['epoch-7', 'epoch-8']);
    for (const [name, epoch, step] of [
      ['epoch-7', 7, 91],
      ['epoch-8', 8, 104],
    ] as const) {
      const entry = join(checkpoints, name);
      expect(readdirSync(entry).sort()).toEqual(['.complete', 'checkpoint.json']);
      expect(statSync(join(entry, '.complete')).mtimeMs).toBeGreaterThanOrEqual(statSync(join(entry, 'checkpoint.json')).mtimeMs);
      const state = checkpointState(entry);
      expect(state).toMatchObject({ epoch, step });
      expect(state.model.w1).toHaveLength(12);
      expect(state.velocity.w1).toHaveLength(12);
      expect([...state.order].sort((a, b) => a - b)).toEqual(Array.from({ length: 400 }, (_, i) => i));
      expect(state.history).toHaveLength(step);
      expect(state.rng).toHaveLength(3);
    }

    // Checkpointing changes nothing else: same metrics lines, same outputs as a run without it.
    const plain = runTrain(FAST);
    expect(plain.status).toBe(0);
    expect(full.metrics).toEqual(plain.metrics);
    expect(doneLines(full.stdout)).toEqual(doneLines(plain.stdout));
    expect(outputs(join(fullDir, 'output'))).toEqual(outputs(join(dir, 'output')));
  });

  it('rotates only epoch-N entries: older and other-run ones go, anything else stays', () => {
    const checkpoints = join(dir, 'checkpoints');
    // Left by something else: a stale older checkpoint, one from another (longer) run, a leftover
    // half-written dot entry, and entries that are not epoch-N.
    for (const name of ['epoch-0', 'epoch-30', '.epoch-3.partial', 'best']) mkdirSync(join(checkpoints, name), { recursive: true });
    writeFileSync(join(checkpoints, '.epoch-3.partial', 'checkpoint.json'), '{}');
    writeFileSync(join(checkpoints, 'notes.txt'), 'kept');
    const run = runTrain('epochs: 3\nstep_delay: 0\n', { CHECKPOINT_DIR: checkpoints });
    expect(run.status).toBe(0);
    expect(readdirSync(checkpoints).sort()).toEqual(['best', 'epoch-2', 'epoch-3', 'notes.txt']);
    expect(checkpointState(join(checkpoints, 'epoch-3'))).toMatchObject({ epoch: 3, step: 39 });
    expect(readFileSync(join(checkpoints, 'notes.txt'), 'utf8')).toBe('kept');
  });

  it.each([
    // epoch-3 from a short (3-epoch) run; epoch-7 from the full run's directory, as rotation left it.
    { k: 3, source: 'short run' },
    { k: 7, source: 'full run' },
  ])(
    'RESUME_FROM epoch-$k ($source), restored into CHECKPOINT_DIR, continues at epoch k+1 and ends exactly as the uninterrupted run',
    ({ k, source }) => {
      const restored = join(dir, 'checkpoints');
      mkdirSync(restored);
      if (source === 'short run') {
        const shortDir = join(dir, 'short');
        mkdirSync(join(shortDir, 'checkpoints'), { recursive: true });
        const short = runTrain(FAST.replace('epochs: 8', `epochs: ${k}`), { CHECKPOINT_DIR: join(shortDir, 'checkpoints') }, shortDir);
        expect(short.status).toBe(0);
        cpSync(join(shortDir, 'checkpoints', `epoch-${k}`), join(restored, `epoch-${k}`), { recursive: true });
      } else {
        cpSync(join(fullDir, 'checkpoints', `epoch-${k}`), join(restored, `epoch-${k}`), { recursive: true });
      }

      const run = runTrain(FAST, { CHECKPOINT_DIR: restored, RESUME_FROM: join(restored, `epoch-${k}`) });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const resumedStep = k * 13;
      expect(run.stdout.split('\n')).toContain(`resumed from epoch-${k} (step ${resumedStep})`);
      // The same step numbering, from the step after the checkpoint's: the lines are the uninterrupted run's tail.
      expect(run.metrics[0]).toMatchObject({ step: resumedStep + 1, epoch: k + 1, total_steps: 104 });
      expect(run.metrics).toEqual(full.metrics.slice(resumedStep));
      expect(doneLines(run.stdout)).toEqual(doneLines(full.stdout).slice(k));
      // Byte-identical outputs (model, the whole metrics.csv from step 1, eval) and final checkpoint.
      expect(outputs(join(dir, 'output'))).toEqual(outputs(join(fullDir, 'output')));
      expect(readdirSync(restored).sort()).toEqual(['epoch-7', 'epoch-8']);
      expect(readFileSync(join(restored, 'epoch-8', 'checkpoint.json'), 'utf8')).toBe(
        readFileSync(join(fullDir, 'checkpoints', 'epoch-8', 'checkpoint.json'), 'utf8'),
      );
    },
  );

  it('RESUME_FROM the last epoch without CHECKPOINT_DIR: no more steps, the same outputs, no checkpoints written', () => {
    const run = runTrain(FAST, { RESUME_FROM: join(fullDir, 'checkpoints', 'epoch-8') });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.split('\n')).toContain('resumed from epoch-8 (step 104)');
    expect(run.metrics).toEqual([]);
    expect(outputs(join(dir, 'output'))).toEqual(outputs(join(fullDir, 'output')));
    expect(readdirSync(dir).sort()).toEqual(['config.yaml', 'output']);
  });

  it('fails, before training, when RESUME_FROM is not a checkpoint', () => {
    const missing = runTrain(FAST, { RESUME_FROM: join(dir, 'nothing-here') });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('RESUME_FROM=');
    expect(missing.metrics).toEqual([]);
    expect(existsSync(join(dir, 'output'))).toBe(false);

    mkdirSync(join(dir, 'epoch-2'));
    writeFileSync(join(dir, 'epoch-2', 'checkpoint.json'), '{"epoch": 2}');
    const broken = runTrain(FAST, { RESUME_FROM: join(dir, 'epoch-2') });
    expect(broken.status).not.toBe(0);
    expect(broken.stderr).toContain('not a checkpoint of this script');
    expect(broken.metrics).toEqual([]);
  });
});

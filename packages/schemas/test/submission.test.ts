import { jobSubmissionSchema } from '../src';

const valid = { instance: { type: 'gpu_1x_a10' }, script: { inline: 'print(1)' } };

function pathsOf(input: unknown): string[] {
  const result = jobSubmissionSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'));
}

describe('job submission schema', () => {
  it('accepts a minimal job and fills defaults', () => {
    const parsed = jobSubmissionSchema.parse(valid);
    expect(parsed.inputs).toEqual({});
    expect(parsed.script).toEqual({ inline: 'print(1)', filename: 'train.py' });
  });

  it.each([
    [{ ...valid, name: 'a b' }, 'name'],
    [{ ...valid, name: 'x'.repeat(65) }, 'name'],
    [{ ...valid, inputs: { Train: 's3://b/k' } }, 'inputs.Train'],
    [{ ...valid, inputs: { train: 'http://b/k' } }, 'inputs.train'],
    [{ ...valid, env: { 'A-B': '1' } }, 'env.A-B'],
    [{ ...valid, env: { JOB_ID: '1' } }, 'env.JOB_ID'],
    [{ ...valid, env: { INPUT_TRAIN: '1' } }, 'env.INPUT_TRAIN'],
    [{ ...valid, outputUri: 's3://b/out' }, 'outputUri'],
    [{ ...valid, maxRuntimeSeconds: 0 }, 'maxRuntimeSeconds'],
    [{ ...valid, metadata: { team: 5 } }, 'metadata.team'],
    [{ ...valid, script: { inline: 'x', filename: 'a/b.py' } }, 'script'],
    [{ ...valid, instance: { type: 'GPU 1x' } }, 'instance.type'],
  ])('rejects %j at %s', (input, path) => {
    expect(pathsOf(input).some((p) => p.startsWith(path))).toBe(true);
  });

  it('rejects unknown fields at every level', () => {
    expect(jobSubmissionSchema.safeParse({ ...valid, extra: 1 }).success).toBe(false);
    expect(jobSubmissionSchema.safeParse({ ...valid, instance: { type: 'gpu_1x_a10', gpus: 8 } }).success).toBe(false);
  });
});

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
    // An unpaired surrogate (the API fuzzer's find: the S3 SDK threw URIError on it, a 500).
    [{ ...valid, inputs: { train: 's3://b/k\ud800x' } }, 'inputs.train'],
    [{ ...valid, inputs: { train: 's3://b/\udc00' } }, 'inputs.train'],
    [{ ...valid, outputUri: 's3://b/\ud800/' }, 'outputUri'],
    [{ ...valid, maxRuntimeSeconds: 0 }, 'maxRuntimeSeconds'],
    [{ ...valid, metadata: { team: 5 } }, 'metadata.team'],
    [{ ...valid, script: { inline: 'x', filename: 'a/b.py' } }, 'script'],
    [{ ...valid, instance: { type: 'GPU 1x' } }, 'instance.type'],
  ])('rejects %j at %s', (input, path) => {
    expect(pathsOf(input).some((p) => p.startsWith(path))).toBe(true);
  });

  it('takes keys with any well-formed Unicode, astral characters included', () => {
    expect(pathsOf({ ...valid, inputs: { train: 's3://b/\u{1F600}/\u00e9' } })).toEqual([]);
  });

  it('rejects unknown fields at every level', () => {
    expect(jobSubmissionSchema.safeParse({ ...valid, extra: 1 }).success).toBe(false);
    expect(jobSubmissionSchema.safeParse({ ...valid, instance: { type: 'gpu_1x_a10', gpus: 8 } }).success).toBe(false);
  });
});

describe('values a shell or a YAML renderer cannot take', () => {
  it('refuses NUL in env values, command, inline script and metadata', () => {
    expect(pathsOf({ ...valid, env: { X: 'a\0b' } })).toEqual(['env.X']);
    expect(pathsOf({ ...valid, command: 'python3 a\0b' })).toEqual(['command']);
    expect(pathsOf({ ...valid, script: { inline: 'x\0y' } })[0]).toMatch(/^script/);
    expect(pathsOf({ ...valid, metadata: { team: 'a\0' } })).toEqual(['metadata.team']);
  });

  it('refuses config nested deeper than 32 levels, however deep', () => {
    const nest = (depth: number) => {
      let config: Record<string, unknown> = { leaf: 1 };
      for (let i = 0; i < depth; i++) config = { a: config };
      return config;
    };
    expect(pathsOf({ ...valid, config: nest(20) })).toEqual([]);
    expect(pathsOf({ ...valid, config: nest(40) })).toEqual(['config']);
    expect(pathsOf({ ...valid, config: nest(100_000) })).toEqual(['config']);
  });

  it('refuses env keys bash keeps read-only', () => {
    expect(pathsOf({ ...valid, env: { UID: '0' } })).toEqual(['env.UID']);
  });
});

describe('keys that name the prototype machinery', () => {
  it('refuses __proto__, constructor and prototype anywhere, naming each path, instead of dropping them', () => {
    const body = JSON.parse(
      '{"instance":{"type":"gpu_1x_a10"},"script":{"inline":"print(1)"},"__proto__":{"x":1},' +
        '"metadata":{"__proto__":"a","ok":"b"},"env":{"constructor":"1"},"config":{"deep":[{"prototype":1}]}}',
    ) as unknown;
    expect(pathsOf(body).sort()).toEqual(['__proto__', 'config.deep.0.prototype', 'env.constructor', 'metadata.__proto__']);
    // The same names as values, or inside longer keys, are ordinary data.
    expect(pathsOf({ ...valid, metadata: { note: '__proto__', my_constructor: 'x' } })).toEqual([]);
  });
});

describe('checkpoint settings', () => {
  const base = { instance: { type: 'gpu_1x_a10' }, script: { inline: 'x', filename: 'train.py' } };
  it('default syncSeconds to 300, accept 5 and refuse less or unknown fields', () => {
    expect(jobSubmissionSchema.parse({ ...base, checkpoint: {} }).checkpoint).toEqual({ syncSeconds: 300 });
    expect(jobSubmissionSchema.parse({ ...base, checkpoint: { syncSeconds: 5 } }).checkpoint).toEqual({ syncSeconds: 5 });
    expect(jobSubmissionSchema.safeParse({ ...base, checkpoint: { syncSeconds: 4 } }).success).toBe(false);
    expect(jobSubmissionSchema.safeParse({ ...base, checkpoint: { every: 5 } }).success).toBe(false);
  });

  it('reserve CHECKPOINT_DIR and RESUME_FROM in env', () => {
    for (const key of ['CHECKPOINT_DIR', 'RESUME_FROM'])
      expect(jobSubmissionSchema.safeParse({ ...base, env: { [key]: 'x' } }).success).toBe(false);
  });
});

import { createHash, randomBytes } from 'node:crypto';

/** Deterministic-enough random data for inputs, with its checksum. */
export function dataset(bytes: number) {
  const body = randomBytes(bytes);
  return { body, sha256: createHash('sha256').update(body).digest('hex') };
}

/**
 * A training script that proves what it saw: the checksums of every input file, its environment
 * and the small files in its home (for leak checks), metrics lines, and a large output.
 */
export const CHECKSUM_SCRIPT = String.raw`
import hashlib, json, os, sys

def sha(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()

inputs = {}
for root, _, files in os.walk(os.environ['INPUT_DIR']):
    for name in files:
        path = os.path.join(root, name)
        inputs[os.path.relpath(path, os.environ['INPUT_DIR'])] = sha(path)

out = os.environ['OUTPUT_DIR']
total = 5
for step in range(1, total + 1):
    print(json.dumps({"step": step, "total_steps": total, "epoch": 1, "loss": 1.0 / step}), flush=True)

with open(os.path.join(out, 'checksums.json'), 'w') as f:
    json.dump({"inputs": inputs, "config": open(os.environ['CONFIG_PATH']).read(), "env_input_train": os.environ.get('INPUT_TRAIN')}, f)

with open(os.path.join(out, 'environment.txt'), 'w') as f:
    for key, value in sorted(os.environ.items()):
        f.write(key + '=' + value + '\n')

home = os.path.expanduser('~')
with open(os.path.join(out, 'home-files.txt'), 'w') as f:
    for root, dirs, files in os.walk(home):
        dirs[:] = [d for d in dirs if d not in ('inputs', 'output')]
        for name in files:
            path = os.path.join(root, name)
            f.write('== ' + path + '\n')
            try:
                if os.path.getsize(path) < 1 << 20:
                    f.write(open(path, errors='replace').read() + '\n')
            except OSError as e:
                f.write('unreadable: ' + str(e) + '\n')

os.makedirs(os.path.join(out, 'model'), exist_ok=True)
block = hashlib.sha256(b'inno').digest() * 32768  # 1 MiB
with open(os.path.join(out, 'model', 'weights.bin'), 'wb') as f:
    for i in range(12):
        f.write(bytes([i]) + block[1:])
print('done', flush=True)
`;

/** Prints, writes a partial output, then fails with exit code 3. */
export const FAILING_SCRIPT = String.raw`
import os, sys
print('loading data', flush=True)
open(os.path.join(os.environ['OUTPUT_DIR'], 'partial.txt'), 'w').write('half a model')
print('about to fail: CUDA out of memory (simulated)', flush=True)
sys.exit(3)
`;

/** Trains "forever": prints a metrics line every 200 ms. */
export const ENDLESS_SCRIPT = String.raw`
import json, time
step = 0
while True:
    step += 1
    print(json.dumps({"step": step, "loss": 1.0 / step}), flush=True)
    time.sleep(0.2)
`;

/** The expected content of outputs/model/weights.bin, computed the same way as the script. */
export function expectedWeights(): Buffer {
  const block = createHash('sha256').update('inno').digest();
  const mib = Buffer.concat(Array.from({ length: 32768 }, () => block));
  return Buffer.concat(Array.from({ length: 12 }, (_, i) => Buffer.concat([Buffer.from([i]), mib.subarray(1)])));
}

"""inno-train demo: a tiny 2-layer MLP trained with mini-batch SGD, python3 standard library only.

Contract with the service (see apps/monitor/src/host-commands.ts):
  INPUT_TRAIN, INPUT_EVAL  paths of the input files (a directory is read as all its *.csv files)
  CONFIG_PATH              YAML rendered from the job's JSON config; only flat `key: number` lines are read
  OUTPUT_DIR               everything written here is copied to the job's outputUri
  CHECKPOINT_DIR           after each epoch the state is saved as epoch-<N>/ (checkpoint.json, then a
                           .complete marker); only the last 2 stay on disk. Unset: no checkpoints
  RESUME_FROM              a checkpoint entry (epoch-<N>/) to continue from, at epoch N+1; the run
                           ends exactly as an uninterrupted one would
Every step prints one JSON metrics line; the monitor turns the latest one into the job's progress.
"""
import json
import math
import os
import random
import re
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULTS = {'epochs': 8, 'lr': 0.3, 'batch_size': 32, 'hidden': 12, 'momentum': 0.9, 'seed': 7, 'step_delay': 0.07}
CHECKPOINT_FILE = 'checkpoint.json'
CHECKPOINT_NAME = re.compile(r'^epoch-(\d+)$')
KEEP_CHECKPOINTS = 2


def parse_config(path):
    """Reads flat `key: value` lines. The service renders config with a YAML library, but a full YAML
    parser is not in the standard library and this script only needs a few numbers."""
    config = dict(DEFAULTS)
    if not path or not os.path.isfile(path):
        return config
    with open(path) as f:
        for line in f:
            if line[:1] in (' ', '\t', '-', '#') or ':' not in line:
                continue
            key, _, value = line.partition(':')
            key, value = key.strip().strip('"\''), value.split(' #')[0].strip().strip('"\'')
            if key not in DEFAULTS:
                continue
            try:
                number = float(value)
            except ValueError:
                print('config: ignoring %s=%r (not a number)' % (key, value), flush=True)
                continue
            config[key] = int(number) if isinstance(DEFAULTS[key], int) else number
    return config


def csv_files(path):
    if os.path.isdir(path):
        return sorted(os.path.join(root, name) for root, _, names in os.walk(path) for name in names if name.endswith('.csv'))
    return [path]


def load_rows(path):
    """Rows of floats; the last column is the 0/1 label. Header lines (non-numeric) are skipped."""
    xs, ys = [], []
    for file in csv_files(path):
        with open(file) as f:
            for line in f:
                parts = line.strip().split(',')
                try:
                    values = [float(p) for p in parts]
                except ValueError:
                    continue
                if len(values) >= 2:
                    xs.append(values[:-1])
                    ys.append(1.0 if values[-1] >= 0.5 else 0.0)
    if not xs:
        sys.exit('no rows found in %s' % path)
    return xs, ys


def standardizer(xs):
    # Scaling from the train split only, stored in model.json so the model can be reused as is.
    n, dims = len(xs), len(xs[0])
    mean = [sum(x[j] for x in xs) / n for j in range(dims)]
    std = [math.sqrt(sum((x[j] - mean[j]) ** 2 for x in xs) / n) or 1.0 for j in range(dims)]
    return mean, std


def scale(xs, mean, std):
    return [[(v - m) / s for v, m, s in zip(x, mean, std)] for x in xs]


def init_model(dims, hidden, rng):
    limit1, limit2 = math.sqrt(6.0 / (dims + hidden)), math.sqrt(6.0 / (hidden + 1))
    return {
        'w1': [[rng.uniform(-limit1, limit1) for _ in range(dims)] for _ in range(hidden)],
        'b1': [0.0] * hidden,
        'w2': [rng.uniform(-limit2, limit2) for _ in range(hidden)],
        'b2': 0.0,
    }


def forward(model, x):
    h = [math.tanh(sum(w * v for w, v in zip(row, x)) + b) for row, b in zip(model['w1'], model['b1'])]
    z = sum(w * v for w, v in zip(model['w2'], h)) + model['b2']
    p = 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0
    return h, p


def evaluate(model, xs, ys):
    """Mean binary cross-entropy and accuracy over a whole split."""
    loss, correct = 0.0, 0
    for x, y in zip(xs, ys):
        _, p = forward(model, x)
        p = min(max(p, 1e-7), 1 - 1e-7)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        correct += (p >= 0.5) == (y == 1.0)
    return loss / len(xs), correct / len(xs)


def zeros_like(model):
    return {'w1': [[0.0] * len(r) for r in model['w1']], 'b1': [0.0] * len(model['b1']), 'w2': [0.0] * len(model['w2']), 'b2': 0.0}


def gradients(model, batch):
    """Backpropagation by hand for the mean cross-entropy over one mini-batch."""
    grad = zeros_like(model)
    for x, y in batch:
        h, p = forward(model, x)
        dz = (p - y) / len(batch)
        grad['b2'] += dz
        for j, hj in enumerate(h):
            grad['w2'][j] += dz * hj
            dh = dz * model['w2'][j] * (1 - hj * hj)
            grad['b1'][j] += dh
            row = grad['w1'][j]
            for k, v in enumerate(x):
                row[k] += dh * v
    return grad


def sgd_step(model, grad, velocity, lr, momentum):
    velocity['b2'] = momentum * velocity['b2'] - lr * grad['b2']
    model['b2'] += velocity['b2']
    for j in range(len(model['w2'])):
        velocity['w2'][j] = momentum * velocity['w2'][j] - lr * grad['w2'][j]
        model['w2'][j] += velocity['w2'][j]
        velocity['b1'][j] = momentum * velocity['b1'][j] - lr * grad['b1'][j]
        model['b1'][j] += velocity['b1'][j]
        for k in range(len(model['w1'][j])):
            velocity['w1'][j][k] = momentum * velocity['w1'][j][k] - lr * grad['w1'][j][k]
            model['w1'][j][k] += velocity['w1'][j][k]


def save_checkpoint(checkpoint_dir, state):
    """Writes $CHECKPOINT_DIR/epoch-<N>/: checkpoint.json first, the .complete marker last. Both are
    written under a dot-name (never synced) and the finished directory is renamed into place, so an
    epoch-<N> entry is never half-written, even if the script dies meanwhile. Then only the last
    KEEP_CHECKPOINTS epoch-<N> entries stay on disk (the synced ones stay in S3)."""
    name = 'epoch-%d' % state['epoch']
    final, partial = os.path.join(checkpoint_dir, name), os.path.join(checkpoint_dir, '.%s.partial' % name)
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    with open(os.path.join(partial, CHECKPOINT_FILE), 'w') as f:
        json.dump(state, f)  # floats round-trip exactly through repr, so a resumed run is bit-identical
        f.flush()
        os.fsync(f.fileno())
    with open(os.path.join(partial, '.complete'), 'w') as f:
        f.write('%s step %d\n' % (name, state['step']))
    if os.path.lexists(final):  # a restored copy of this very checkpoint, or one from an earlier attempt
        shutil.rmtree(final) if os.path.isdir(final) and not os.path.islink(final) else os.remove(final)
    os.rename(partial, final)
    epochs = sorted(int(m.group(1)) for m in (CHECKPOINT_NAME.match(n) for n in os.listdir(checkpoint_dir)) if m)
    for old in epochs:
        if old <= state['epoch'] - KEEP_CHECKPOINTS or old > state['epoch']:  # older, or from another run
            shutil.rmtree(os.path.join(checkpoint_dir, 'epoch-%d' % old), ignore_errors=True)


def load_checkpoint(path, config, train_rows):
    """The state save_checkpoint wrote; `path` is the epoch-<N> directory (or its checkpoint.json)."""
    file = os.path.join(path, CHECKPOINT_FILE) if os.path.isdir(path) else path
    try:
        with open(file) as f:
            state = json.load(f)
        state['rng'] = (state['rng'][0], tuple(state['rng'][1]), state['rng'][2])
        epoch, step, saved = int(state['epoch']), int(state['step']), dict(state['config'])
        hidden, rows = len(state['model']['w1']), len(state['order'])
        state['velocity'], state['history']  # KeyError if absent
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        sys.exit('RESUME_FROM=%s: not a checkpoint of this script (%r)' % (path, e))
    if hidden != config['hidden'] or rows != train_rows:
        sys.exit('RESUME_FROM=%s: saved for hidden=%d and %d train rows, this run has hidden=%d and %d'
                 % (path, hidden, rows, config['hidden'], train_rows))
    changed = sorted(k for k in DEFAULTS if k not in ('epochs', 'step_delay') and saved.get(k) != config[k])
    if changed:
        print('resume: config differs from the checkpoint in %s; the run will not match an uninterrupted one'
              % ', '.join(changed), flush=True)
    print('resumed from epoch-%d (step %d)' % (epoch, step), flush=True)
    return state


def train(config, train_x, train_y, checkpoint_dir=None, resume=None):
    rng = random.Random(config['seed'])
    model = init_model(len(train_x[0]), config['hidden'], rng)
    velocity = zeros_like(model)
    batch_size = max(1, config['batch_size'])
    steps_per_epoch = math.ceil(len(train_x) / batch_size)
    total = steps_per_epoch * config['epochs']
    order, history, step, first_epoch = list(range(len(train_x))), [], 0, 1
    if resume:
        # Everything the loop below carries from one epoch to the next; the shuffle permutes `order`
        # in place, so it is state too.
        model, velocity, order, step = resume['model'], resume['velocity'], resume['order'], resume['step']
        history = [tuple(row) for row in resume['history']]
        rng.setstate(resume['rng'])
        first_epoch = resume['epoch'] + 1
    for epoch in range(first_epoch, config['epochs'] + 1):
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [(train_x[i], train_y[i]) for i in order[start:start + batch_size]]
            sgd_step(model, gradients(model, batch), velocity, config['lr'], config['momentum'])
            step += 1
            # Whole-train-split metrics rather than the noisy batch loss, so the curve means something.
            loss, accuracy = evaluate(model, train_x, train_y)
            history.append((step, loss, accuracy))
            print(json.dumps({'step': step, 'total_steps': total, 'epoch': epoch, 'loss': round(loss, 5), 'accuracy': round(accuracy, 4)}), flush=True)
            # Only so a human can watch the progress bar; the math above takes milliseconds.
            time.sleep(config['step_delay'])
        print('epoch %d/%d done: loss %.4f, train accuracy %.3f' % (epoch, config['epochs'], history[-1][1], history[-1][2]), flush=True)
        if checkpoint_dir:
            save_checkpoint(checkpoint_dir, {'epoch': epoch, 'step': step, 'model': model, 'velocity': velocity,
                                             'rng': rng.getstate(), 'order': order, 'history': history, 'config': config})
    return model, history


def write_outputs(out, model, history, config, norm, eval_result):
    os.makedirs(out, exist_ok=True)
    final = {'loss': history[-1][1], 'accuracy': history[-1][2], 'eval_accuracy': eval_result['accuracy']}
    with open(os.path.join(out, 'model.json'), 'w') as f:
        json.dump({'architecture': 'mlp(tanh, %d hidden) -> sigmoid' % config['hidden'], 'weights': model,
                   'normalization': {'mean': norm[0], 'std': norm[1]}, 'config': config, 'final': final}, f, indent=2)
    with open(os.path.join(out, 'metrics.csv'), 'w') as f:
        f.write('step,loss,accuracy\n')
        f.writelines('%d,%.6f,%.4f\n' % row for row in history)
    with open(os.path.join(out, 'eval.json'), 'w') as f:
        json.dump(eval_result, f, indent=2)


def main():
    started = time.time()
    config = parse_config(os.environ.get('CONFIG_PATH'))
    train_path = os.environ.get('INPUT_TRAIN') or os.path.join(HERE, 'train.csv')
    eval_path = os.environ.get('INPUT_EVAL') or os.path.join(HERE, 'eval.csv')
    out = os.environ.get('OUTPUT_DIR') or os.path.join(os.getcwd(), 'output')
    train_x, train_y = load_rows(train_path)
    eval_x, eval_y = load_rows(eval_path)
    norm = standardizer(train_x)
    train_x, eval_x = scale(train_x, *norm), scale(eval_x, *norm)
    print('python %s; %d train rows, %d eval rows, %d features' % (sys.version.split()[0], len(train_x), len(eval_x), len(train_x[0])), flush=True)
    print('config: ' + ', '.join('%s=%s' % kv for kv in sorted(config.items())), flush=True)
    checkpoint_dir, resume_from = os.environ.get('CHECKPOINT_DIR'), os.environ.get('RESUME_FROM')
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)
    resume = load_checkpoint(resume_from, config, len(train_x)) if resume_from else None
    model, history = train(config, train_x, train_y, checkpoint_dir or None, resume)
    eval_loss, eval_accuracy = evaluate(model, eval_x, eval_y)
    eval_result = {'accuracy': round(eval_accuracy, 4), 'loss': round(eval_loss, 5), 'rows': len(eval_x)}
    write_outputs(out, model, history, config, norm, eval_result)
    print('eval: accuracy %.3f, loss %.4f on %d rows' % (eval_accuracy, eval_loss, len(eval_x)), flush=True)
    print('wrote model.json, metrics.csv, eval.json to %s in %.1fs' % (out, time.time() - started), flush=True)


if __name__ == '__main__':
    main()

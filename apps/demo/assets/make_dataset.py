"""Generates the bundled demo dataset (train.csv, eval.csv) once, with a fixed seed.

The label says whether a point lies above a parabola in x1/x2 (shifted by x3), with 5% of labels
flipped; x4 is pure noise. The curve gives a small MLP something a straight line cannot fit, and the
noise keeps any model below 100%.
Run: python3 make_dataset.py  (rewrites both files beside it byte for byte; the seed makes it reproducible).
"""
import os
import random

SEED = 20240611
NOISE = 0.05


def row(rng):
    x1, x2 = rng.uniform(-2, 2), rng.uniform(-2, 2)
    x3, x4 = rng.gauss(0, 1), rng.gauss(0, 1)
    above = x2 > 0.6 * x1 * x1 - 1.0 + 0.5 * x3
    label = int(above)
    if rng.random() < NOISE:
        label = 1 - label
    return [round(x1, 4), round(x2, 4), round(x3, 4), round(x4, 4), label]


def write(name, rows):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name), 'w') as f:
        f.write('x1,x2,x3,x4,label\n')
        for r in rows:
            f.write(','.join(str(v) for v in r) + '\n')


def main():
    rng = random.Random(SEED)
    rows = [row(rng) for _ in range(600)]
    write('train.csv', rows[:400])
    write('eval.csv', rows[400:])
    print('positives:', sum(r[-1] for r in rows), 'of', len(rows))


if __name__ == '__main__':
    main()

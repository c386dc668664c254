import { allProgress, latestProgress } from '../src/metrics';

describe('every metrics record of a chunk', () => {
  const chunk = [
    'loading',
    '{"step": 1, "loss": 2.5}',
    '  {"step": 2, "total_steps": 10, "epoch": 1, "loss": 1.5, "lr": 0.001, "note": "text", "bad": null}  ',
    '{"not": "metrics"}',
    '{"step": "3", "loss": 1}',
    '{"step": 2, "eval_loss": 1.75}',
    '[{"step": 4}]',
    '{broken',
    '{"step": 5}',
    '',
  ].join('\n');

  it('takes each JSON line with a numeric step, in order, its numbers under the names printed', () => {
    expect(allProgress(chunk)).toEqual([
      { step: 1, values: { loss: 2.5 } },
      { step: 2, values: { total_steps: 10, epoch: 1, loss: 1.5, lr: 0.001 } },
      { step: 2, values: { eval_loss: 1.75 } },
      { step: 5, values: {} },
    ]);
    expect(allProgress('no metrics here\n')).toEqual([]);
  });

  it('agrees with progress, which keeps the latest record with total_steps as totalSteps', () => {
    expect(latestProgress(chunk)).toEqual({ step: 5 });
    const last = allProgress('{"step": 7, "total_steps": 9, "loss": 0.5}\n').at(-1);
    expect(last).toEqual({ step: 7, values: { total_steps: 9, loss: 0.5 } });
    expect(latestProgress('{"step": 7, "total_steps": 9, "loss": 0.5}\n')).toEqual({ step: 7, totalSteps: 9, loss: 0.5 });
  });
});

import { decideBoot, sshBackoffMs, type BootObservation } from '../src/boot-decision';

const POLL = 1000;
const active = { status: 'active', ip: '10.0.0.7' };
const seen = (patch: Partial<BootObservation>): BootObservation => ({ cloud: active, pastDeadline: false, ...patch });

describe('deciding on a booting instance (pure)', () => {
  it.each<[string, BootObservation, object, object]>([
    [
      'the cloud no longer knows it: give it back',
      seen({ cloud: null }),
      {},
      { kind: 'retire', reason: 'instance disappeared (404) while booting' },
    ],
    [
      'preempted: give it back',
      seen({ cloud: { status: 'preempted', ip: null } }),
      {},
      { kind: 'retire', reason: 'instance preempted while booting' },
    ],
    [
      'terminated: give it back',
      seen({ cloud: { status: 'terminated', ip: null } }),
      {},
      { kind: 'retire', reason: 'instance terminated while booting' },
    ],
    [
      'unhealthy within its deadline: wait (some recover)',
      seen({ cloud: { status: 'unhealthy', ip: null } }),
      {},
      { kind: 'wait', delayMs: POLL, step: {} },
    ],
    [
      'unhealthy past its deadline: give it back',
      seen({ cloud: { status: 'unhealthy', ip: null }, pastDeadline: true }),
      {},
      { kind: 'retire', reason: 'instance stayed unhealthy past its boot deadline' },
    ],
    [
      'booting: wait a poll, keeping the step',
      seen({ cloud: { status: 'booting', ip: null } }),
      { sshMisses: 2 },
      { kind: 'wait', delayMs: POLL, step: { sshMisses: 2 } },
    ],
    ['active without an address yet: wait', seen({ cloud: { status: 'active', ip: null } }), {}, { kind: 'wait', delayMs: POLL, step: {} }],
    [
      'still booting at its deadline: give it back',
      seen({ cloud: { status: 'booting', ip: null }, pastDeadline: true }),
      {},
      { kind: 'retire', reason: 'instance still booting at its boot deadline' },
    ],
    ['active with an address: look at SSH', seen({}), {}, { kind: 'probe_ssh' }],
    [
      'SSH not answering yet: wait longer each time',
      seen({ ssh: false }),
      { sshMisses: 1 },
      { kind: 'wait', delayMs: sshBackoffMs(POLL, 2), step: { sshMisses: 2 } },
    ],
    [
      'SSH never answered by the deadline: give it back',
      seen({ ssh: false, pastDeadline: true }),
      {},
      { kind: 'retire', reason: 'SSH never answered before the boot deadline' },
    ],
    ['SSH answers: check the GPUs', seen({ ssh: true }), {}, { kind: 'check_gpus' }],
    [
      'the GPU check fails: give it back, saying why',
      seen({ ssh: true, gpus: { ok: false, output: 'NVIDIA-SMI has failed\n' } }),
      {},
      { kind: 'retire', reason: 'GPU check failed: NVIDIA-SMI has failed' },
    ],
    [
      'GPUs listed: ready',
      seen({ ssh: true, gpus: { ok: true, output: 'GPU 0: A10\nGPU 1: A10\n' } }),
      {},
      { kind: 'ready', gpuLines: ['GPU 0: A10', 'GPU 1: A10'] },
    ],
    [
      'GPUs listed after the deadline passed: still ready (it answered in time to be checked)',
      seen({ ssh: true, pastDeadline: true, gpus: { ok: true, output: 'GPU 0: H100' } }),
      {},
      { kind: 'ready', gpuLines: ['GPU 0: H100'] },
    ],
  ])('%s', (_name, observation, step, expected) => {
    expect(decideBoot(observation, step, POLL)).toEqual(expected);
  });

  it('backs off on SSH by half again per miss, to at most four polls', () => {
    expect([1, 2, 3, 4, 5].map((misses) => sshBackoffMs(POLL, misses))).toEqual([1500, 2250, 3375, 4000, 4000]);
  });
});

import { ATTEMPT_TAG, instanceName, JOB_TAG, jobIdOfInstance, LAUNCHED_AT_TAG, NAMESPACE_TAG, type CloudInstance } from '../src';

describe('the tags that mark an instance as ours', () => {
  it('keep their wire spelling: instances launched by earlier versions must still be found', () => {
    expect([JOB_TAG, LAUNCHED_AT_TAG, NAMESPACE_TAG, ATTEMPT_TAG]).toEqual([
      'inno-train:job',
      'inno-train:launched-at',
      'inno-train:ns',
      'inno-train:attempt',
    ]);
    // Lambda's tag keys match ^[a-z][a-z0-9-:]+$.
    for (const key of [JOB_TAG, LAUNCHED_AT_TAG, NAMESPACE_TAG, ATTEMPT_TAG]) expect(key).toMatch(/^[a-z][a-z0-9-:]+$/);
  });

  it("name the job an instance serves, or null for an instance that is not a job's", () => {
    const ours: CloudInstance = {
      id: 'i-1',
      status: 'active',
      tags: [
        { key: NAMESPACE_TAG, value: 'ns' },
        { key: JOB_TAG, value: 'j1' },
      ],
    };
    expect(jobIdOfInstance(ours)).toBe('j1');
    expect(jobIdOfInstance({ tags: [{ key: 'team', value: 'speech' }] })).toBeNull();
    expect(jobIdOfInstance({ tags: null })).toBeNull();
    expect(jobIdOfInstance({})).toBeNull();
  });

  it("names an instance after its job, within Lambda's 64 characters", () => {
    expect(instanceName('j0123456789abcdefghijkl')).toBe('inno-train-j0123456789abcdefghijkl');
    expect(instanceName('j0123456789abcdefghijkl').length).toBeLessThanOrEqual(64);
  });
});

import { FileTransferError, InfrastructureError } from '@inno-train/core';
import { jobError } from '../src';

describe('the job error of a stage that gives up', () => {
  it('keeps a code that is already a job error code', () => {
    expect(jobError('staging_in', new FileTransferError('transfer_timeout', 'too slow'), 'input_transfer_failed')).toEqual({
      code: 'transfer_timeout',
      message: 'too slow',
      stage: 'staging_in',
    });
  });

  it("maps any other code to the stage's give-up code and keeps the underlying one in the message", () => {
    const error = new InfrastructureError('ssh_auth_failed', 'SSH authentication as ubuntu@10.0.0.1:22 failed');
    expect(jobError('training', error, 'training_error')).toEqual({
      code: 'training_error',
      message: 'ssh_auth_failed: SSH authentication as ubuntu@10.0.0.1:22 failed',
      stage: 'training',
    });
  });

  it('calls an unexpected failure internal_error unless the stage says otherwise', () => {
    expect(jobError('teardown', new TypeError('x is undefined'))).toEqual({
      code: 'internal_error',
      message: 'x is undefined',
      stage: 'teardown',
    });
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isJobErrorCode, JOB_ERROR_CODES, jobErrorCodeSchema } from '../src';

/** The codes in the README's table of job error codes, in order. */
function readmeCodes(): string[] {
  const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('Error codes a job can end with'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| code |')));
  return [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((match) => match[1]!);
}

describe('job error codes', () => {
  it('are exactly the ones the README lists, in the same order', () => {
    expect(readmeCodes()).toEqual([...JOB_ERROR_CODES]);
  });

  it('are a closed set: anything else is refused', () => {
    expect(jobErrorCodeSchema.safeParse('host_lost').success).toBe(true);
    expect(jobErrorCodeSchema.safeParse('ssh_auth_failed').success).toBe(false);
    expect(isJobErrorCode('storage_access_denied')).toBe(false);
    expect(isJobErrorCode(42)).toBe(false);
  });
});

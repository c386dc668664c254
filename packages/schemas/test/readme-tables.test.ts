import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JOB_ERROR_CODES, JOB_EVENT_TYPES } from '@inno-train/workflow-constants';
import { API_ERROR_CODES, README_TABLE_NAMES, readmeTableMarkers, readmeTables, staleReadmeTables, withReadmeTables } from '../src';

const README = join(__dirname, '..', '..', '..', 'README.md');

/** The codes in the first column of a rendered table, in order. */
function firstColumn(table: string): string[] {
  return [...table.matchAll(/^\| `([a-z0-9_]+)` \|/gm)].map((match) => match[1]!);
}

/** A README holding only the marker pairs, with `inside` between each. */
function markersOnly(inside: string): string {
  return README_TABLE_NAMES.map((name) => {
    const { begin, end } = readmeTableMarkers(name);
    return `## ${name}\n\n${begin}${inside}${end}\n`;
  }).join('\n');
}

describe("the README's tables of event types, job error codes and API error codes", () => {
  it('are what npm run docs:tables writes from the enums', () => {
    const stale = staleReadmeTables(readFileSync(README, 'utf8'));
    if (stale.length > 0) {
      throw new Error(`README.md's ${stale.join(', ')} table(s) differ from the enums: run \`npm run docs:tables\` and commit README.md`);
    }
  });

  it('list every member of each enum once, in the enum order', () => {
    const tables = readmeTables();
    expect(firstColumn(tables['event-types'])).toEqual([...JOB_EVENT_TYPES]);
    expect(firstColumn(tables['job-error-codes'])).toEqual([...JOB_ERROR_CODES]);
    expect(firstColumn(tables['api-error-codes'])).toEqual([...API_ERROR_CODES]);
  });

  it('give each API error code its HTTP status, several when it has more than one', () => {
    const rows = readmeTables()['api-error-codes'].split('\n');
    expect(rows).toContain("| `job_not_found` | 404 | no such job, or another tenant's |");
    expect(rows.find((row) => row.startsWith('| `idempotency_key_reused` |'))).toMatch(/^\| `idempotency_key_reused` \| 409, 422 \| /);
  });

  it('are rewritten between their markers, leaving the text around them as it was, and then are not stale', () => {
    const before = `# Title\n\nProse.\n\n${markersOnly('\n\nold table\n\n')}\nMore prose.\n`;
    const after = withReadmeTables(before);
    expect(staleReadmeTables(before)).toEqual([...README_TABLE_NAMES]);
    expect(staleReadmeTables(after)).toEqual([]);
    expect(after.startsWith('# Title\n\nProse.\n\n## event-types\n\n<!-- table:event-types -->\n\n| type | meaning |\n')).toBe(true);
    expect(after.endsWith('<!-- /table:api-error-codes -->\n\nMore prose.\n')).toBe(true);
    expect(after).not.toContain('old table');
    expect(withReadmeTables(after)).toBe(after);
  });

  it('name the marker a README lacks', () => {
    const { begin } = readmeTableMarkers('api-error-codes');
    const without = markersOnly('').replace(begin, '');
    expect(() => withReadmeTables(without)).toThrow('README.md has no <!-- table:api-error-codes --> ... <!-- /table:api-error-codes -->');
  });
});

/**
 * The README's tables of the closed enums clients switch on (event types, job error codes, API
 * error codes), rendered from their description records. `npm run docs:tables` writes them between
 * the README's marker comments, and a test fails while the committed tables differ. Plain strings
 * in and out: the caller reads and writes the file.
 */
import { JOB_ERROR_CODE_INFO, JOB_ERROR_CODES, JOB_EVENT_TYPE_INFO, JOB_EVENT_TYPES } from '@inno-train/workflow-constants';
import { API_ERROR_CODES } from './api';
import { API_ERROR_CODE_INFO } from './api-error-info';

export const README_TABLE_NAMES = ['event-types', 'job-error-codes', 'api-error-codes'] as const;

export type ReadmeTableName = (typeof README_TABLE_NAMES)[number];

/** The comments a table sits between in the README. */
export function readmeTableMarkers(name: ReadmeTableName): { begin: string; end: string } {
  return { begin: `<!-- table:${name} -->`, end: `<!-- /table:${name} -->` };
}

/** A markdown table; a `|` inside a cell is escaped so it cannot split the cell. */
function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

/** Each table as markdown, in the order of its enum. */
export function readmeTables(): Record<ReadmeTableName, string> {
  return {
    'event-types': markdownTable(
      ['type', 'meaning'],
      JOB_EVENT_TYPES.map((type) => [`\`${type}\``, JOB_EVENT_TYPE_INFO[type]]),
    ),
    'job-error-codes': markdownTable(
      ['code', 'when'],
      JOB_ERROR_CODES.map((code) => [`\`${code}\``, JOB_ERROR_CODE_INFO[code]]),
    ),
    'api-error-codes': markdownTable(
      ['code', 'status', 'meaning'],
      API_ERROR_CODES.map((code) => {
        const { status, meaning } = API_ERROR_CODE_INFO[code];
        return [`\`${code}\``, [status].flat().join(', '), meaning];
      }),
    ),
  };
}

/** What lies between a table's markers: the table, a blank line either side. */
function tableBlock(table: string): string {
  return `\n\n${table}\n\n`;
}

/** Where a table's text lies between its markers; throws when the README lacks them. */
function tableSpan(readme: string, name: ReadmeTableName): { from: number; to: number } {
  const { begin, end } = readmeTableMarkers(name);
  const at = readme.indexOf(begin);
  const to = readme.indexOf(end, at);
  if (at < 0 || to < 0) throw new Error(`README.md has no ${begin} ... ${end} block for the ${name} table`);
  return { from: at + begin.length, to };
}

/** The README with every table rewritten between its markers (the rest of the text as it was). */
export function withReadmeTables(readme: string): string {
  const tables = readmeTables();
  let text = readme;
  for (const name of README_TABLE_NAMES) {
    const { from, to } = tableSpan(text, name);
    text = `${text.slice(0, from)}${tableBlock(tables[name])}${text.slice(to)}`;
  }
  return text;
}

/** The names of the tables whose text in the README differs from what `withReadmeTables` writes. */
export function staleReadmeTables(readme: string): ReadmeTableName[] {
  const tables = readmeTables();
  return README_TABLE_NAMES.filter((name) => {
    const { from, to } = tableSpan(readme, name);
    return readme.slice(from, to) !== tableBlock(tables[name]);
  });
}

/**
 * Counting what a jest run validated. Each test file runs in its own module registry (and, with
 * workers, its own process), so each leaves its tally as a file in a directory the run's
 * globalSetup made; the globalTeardown sums them.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { driftMessage, type ContractValidator, type Exchange } from './validator';

/** Where each test file leaves its count of validated answers (jest workers inherit this variable). */
export const CONTRACT_REPORT_DIR_ENV = 'INNO_TRAIN_CONTRACT_REPORT_DIR';

/** What one test file (or a whole run, summed) validated: answers checked, by `operation → status`. */
export interface ContractTally {
  validated: number;
  byOperationStatus: Record<string, number>;
}

export const emptyTally = (): ContractTally => ({ validated: 0, byOperationStatus: {} });

const KEY_SEPARATOR = ' → ';

/** The operation (`METHOD /template` or `unrouted`) of a `byOperationStatus` key. */
export const operationOfKey = (key: string) => key.split(KEY_SEPARATOR)[0]!;

/**
 * Validates one exchange and counts it in `tally` if the document speaks for it. Returns the
 * drift (a message for the test that received the answer), or null when the answer matches.
 */
export function checkExchange(validate: ContractValidator, exchange: Exchange, tally: ContractTally): string | null {
  const verdict = validate(exchange);
  if (verdict.outcome === 'outside') return null;
  tally.validated += 1;
  const key = `${verdict.operation}${KEY_SEPARATOR}${exchange.status}`;
  tally.byOperationStatus[key] = (tally.byOperationStatus[key] ?? 0) + 1;
  return verdict.problems.length > 0 ? driftMessage(exchange, verdict.operation, verdict.problems) : null;
}

/** For a jest globalSetup: a fresh directory per run, so counts of an earlier or parallel run never mix in. */
export function openContractReport(): void {
  process.env[CONTRACT_REPORT_DIR_ENV] = mkdtempSync(join(tmpdir(), 'inno-train-contract-'));
}

/** For a test file's afterAll: leaves its tally for the run's total. A file run without the globalSetup (from an editor) leaves nothing. */
export function leaveTally(tally: ContractTally): void {
  const dir = process.env[CONTRACT_REPORT_DIR_ENV];
  if (dir) writeFileSync(join(dir, `${randomUUID()}.json`), JSON.stringify(tally));
}

/** For a jest globalTeardown: every file's tally summed, and the directory removed; undefined without the globalSetup. */
export function collectTallies(): ContractTally | undefined {
  const dir = process.env[CONTRACT_REPORT_DIR_ENV];
  if (!dir) return undefined;
  const total = emptyTally();
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.json'))) {
    const tally = JSON.parse(readFileSync(join(dir, name), 'utf8')) as ContractTally;
    total.validated += tally.validated;
    for (const [key, count] of Object.entries(tally.byOperationStatus)) {
      total.byOperationStatus[key] = (total.byOperationStatus[key] ?? 0) + count;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return total;
}

/**
 * jest setupFilesAfterEnv of the pipeline tests: every answer a test file receives from a stack's
 * API on /v1 and /healthz is validated against the OpenAPI document that API serves (see
 * api-contract.ts). A drift fails the test that received it (in afterEach, so a test that retries
 * or tolerates errors cannot swallow it); one received in a beforeAll fails the file's first test.
 * Each file leaves its count for contract-global-teardown.ts to sum and print.
 */
import { emptyTally, leaveTally } from '@inno-train/contract-check';
import { installContractCheck } from './api-contract';

interface Drift {
  /** The test that received the answer, or the hook outside any test. */
  receivedIn: string;
  message: string;
}

/** Distinct drifts shown in one failure; the fuzzer can send thousands of answers of the same kind. */
const SHOWN = 10;

const tally = emptyTally();
let drifts: Drift[] = [];

installContractCheck({
  tally,
  onDrift: (message) => drifts.push({ receivedIn: expect.getState().currentTestName ?? 'beforeAll (no test yet)', message }),
});

/** Drifts of the same kind (operation, status, problems: not the path or body) once, with how many more there were. */
function report(found: Drift[]): string {
  const kinds = new Map<string, { first: Drift; count: number }>();
  for (const drift of found) {
    const [head = '', ...rest] = drift.message.split('\n');
    const kind = [head.replace(/^(\S+) \S+ answered/, '$1 answered'), ...rest.filter((line) => line.startsWith('  - '))].join('\n');
    const seen = kinds.get(kind);
    if (seen) seen.count += 1;
    else kinds.set(kind, { first: drift, count: 1 });
  }
  const shown = [...kinds.values()].slice(0, SHOWN).map(({ first, count }) => {
    const more = count > 1 ? `\n(and ${count - 1} more answer${count > 2 ? 's' : ''} like it)` : '';
    return `received in: ${first.receivedIn}\n${first.message}${more}`;
  });
  const hidden = kinds.size > SHOWN ? `\n\n... and ${kinds.size - SHOWN} more kinds of drift` : '';
  return (
    `${found.length} answer${found.length === 1 ? '' : 's'} from the stack's API drifted from the OpenAPI document it serves ` +
    `(GET /v1/openapi.json):\n\n${shown.join('\n\n')}${hidden}`
  );
}

function failOnDrifts(): void {
  if (drifts.length === 0) return;
  const found = drifts;
  drifts = [];
  const error = new Error(report(found));
  // The stack of this hook says nothing about where the answer came from; the message does.
  error.stack = `Error: ${error.message}`;
  throw error;
}

afterEach(() => {
  failOnDrifts();
});

afterAll(() => {
  leaveTally(tally);
  failOnDrifts();
});

/**
 * jest setupFilesAfterEnv for every apps/api test file: each answer a test receives through
 * supertest on the documented paths (/v1, /healthz) is checked against the OpenAPI document, and an
 * answer the document does not describe fails that test, whatever the test itself asserts. Each file
 * leaves its count for contract-global-teardown.ts to sum and print.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import supertest from 'supertest';
import { buildOpenApiDocument } from '../src/openapi';
import { createContractValidator, driftMessage, type Exchange } from './contract';
import { CONTRACT_REPORT_DIR_ENV } from './contract-global-setup';

/** What one test file leaves behind: answers checked, by `operation → status`. */
export interface ContractTally {
  validated: number;
  byOperationStatus: Record<string, number>;
}

/** The parts of supertest's Test (and superagent's response) this hook reads; @types/supertest has no class to patch. */
interface PatchableTest {
  method: string;
  url: string;
  assert(resError: unknown, res: AnswerSeen | undefined, fn?: (error: unknown, res?: AnswerSeen) => void): void;
}
interface AnswerSeen {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text?: string;
}

const validate = createContractValidator(buildOpenApiDocument());
const tally: ContractTally = { validated: 0, byOperationStatus: {} };

function exchangeOf(test: PatchableTest, res: AnswerSeen): Exchange {
  const mediaType = String(res.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim();
  const isJson = mediaType === 'application/json' || mediaType.endsWith('+json');
  return {
    method: test.method,
    path: new URL(test.url, 'http://supertest.invalid').pathname,
    status: res.status,
    headers: res.headers,
    body: isJson ? res.body : res.text,
  };
}

/** The drift of one answer as an Error for the test, or null when it matches the document. */
function driftOf(test: PatchableTest, res: AnswerSeen): Error | null {
  const exchange = exchangeOf(test, res);
  const verdict = validate(exchange);
  if (verdict.outcome === 'outside') return null;
  tally.validated += 1;
  const key = `${verdict.operation} → ${exchange.status}`;
  tally.byOperationStatus[key] = (tally.byOperationStatus[key] ?? 0) + 1;
  return verdict.problems.length > 0 ? new Error(driftMessage(exchange, verdict.operation, verdict.problems)) : null;
}

// supertest calls `assert` once per answer, before `.expect()`s settle and before `await` resumes.
const Test = (supertest as unknown as { Test: { prototype: PatchableTest } }).Test;
const originalAssert = Test.prototype.assert;
Test.prototype.assert = function assertMatchesContract(this: PatchableTest, resError, res, fn) {
  const drift = res ? driftOf(this, res) : null;
  const report = drift && fn ? (error: unknown, answer?: AnswerSeen) => fn(error ?? drift, answer) : fn;
  originalAssert.call(this, resError, res, report);
};

afterAll(() => {
  const dir = process.env[CONTRACT_REPORT_DIR_ENV];
  // Run without the global setup (a single file from an editor): validation still ran, nothing to sum.
  if (dir) writeFileSync(join(dir, `${randomUUID()}.json`), JSON.stringify(tally));
});

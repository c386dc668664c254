/**
 * jest setupFilesAfterEnv for every apps/api test file: each answer a test receives through
 * supertest on the documented paths (/v1, /healthz) is checked against the OpenAPI document, and an
 * answer the document does not describe fails that test, whatever the test itself asserts. Each file
 * leaves its count for contract-global-teardown.ts to sum and print.
 */
import supertest from 'supertest';
import { checkExchange, createContractValidator, emptyTally, exchangeOf, leaveTally } from '@inno-train/contract-check';
import { buildOpenApiDocument } from '../src/openapi';

/** The parts of supertest's Test (and superagent's response) this hook reads; @types/supertest has no class to patch. */
interface PatchableTest {
  method: string;
  url: string;
  assert(resError: unknown, res: AnswerSeen | undefined, fn?: (error: unknown, res?: AnswerSeen) => void): void;
}
interface AnswerSeen {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text?: string;
}

const validate = createContractValidator(buildOpenApiDocument());
const tally = emptyTally();

/** The drift of one answer as an Error for the test, or null when it matches the document. */
function driftOf(test: PatchableTest, res: AnswerSeen): Error | null {
  const exchange = exchangeOf({ method: test.method, url: test.url, status: res.status, headers: res.headers, text: res.text ?? '' });
  const drift = checkExchange(validate, exchange, tally);
  return drift === null ? null : new Error(drift);
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
  leaveTally(tally);
});

import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HTTP_METHODS, buildOpenApiDocument } from '../src/openapi';
import { CONTRACT_REPORT_DIR_ENV } from './contract-global-setup';
import type { ContractTally } from './contract-setup';

/** jest globalTeardown: sums what every test file validated and says which operations no test reached. */
export default function reportContractCoverage(): void {
  const dir = process.env[CONTRACT_REPORT_DIR_ENV];
  if (!dir) return;
  const tallies = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as ContractTally);
  rmSync(dir, { recursive: true, force: true });
  const validated = tallies.reduce((sum, tally) => sum + tally.validated, 0);
  const reached = new Set(tallies.flatMap((tally) => Object.keys(tally.byOperationStatus).map((key) => key.split(' → ')[0])));
  const doc = buildOpenApiDocument();
  const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
    HTTP_METHODS.filter((method) => item[method]).map((method) => `${method.toUpperCase()} ${path}`),
  );
  const unreached = operations.filter((operation) => !reached.has(operation));
  console.log(
    `[contract] ${validated} responses validated against openapi.json (${operations.length} routes` +
      (unreached.length > 0 ? `; not reached by any test: ${unreached.join(', ')})` : ', every one reached)'),
  );
}

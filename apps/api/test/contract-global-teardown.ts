import { collectTallies, operationOfKey, operationsOf } from '@inno-train/contract-check';
import { buildOpenApiDocument } from '../src/openapi';

/** jest globalTeardown: sums what every test file validated and says which operations no test reached. */
export default function reportContractCoverage(): void {
  const total = collectTallies();
  if (!total) return;
  const reached = new Set(Object.keys(total.byOperationStatus).map(operationOfKey));
  const operations = operationsOf(buildOpenApiDocument());
  const unreached = operations.filter((operation) => !reached.has(operation));
  console.log(
    `[contract] ${total.validated} responses validated against openapi.json (${operations.length} routes` +
      (unreached.length > 0 ? `; not reached by any test: ${unreached.join(', ')})` : ', every one reached)'),
  );
}

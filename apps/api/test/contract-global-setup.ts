import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where each test file leaves its count of validated answers (jest workers inherit this variable). */
export const CONTRACT_REPORT_DIR_ENV = 'INNO_TRAIN_CONTRACT_REPORT_DIR';

/** jest globalSetup: a fresh directory per run, so counts of an earlier or parallel run never mix in. */
export default function createContractReportDir(): void {
  process.env[CONTRACT_REPORT_DIR_ENV] = mkdtempSync(join(tmpdir(), 'inno-train-contract-'));
}

import { openContractReport } from '@inno-train/contract-check';

/** jest globalSetup: a fresh directory for the test files' counts (contract-setup.ts). */
export default function createContractReportDir(): void {
  openContractReport();
}

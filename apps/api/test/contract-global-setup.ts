import { openContractReport } from '@inno-train/contract-check';

/** jest globalSetup: a fresh directory per run, so counts of an earlier or parallel run never mix in. */
export default function createContractReportDir(): void {
  openContractReport();
}

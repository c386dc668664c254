import { collectTallies } from '@inno-train/contract-check';

/** jest globalTeardown: the number of the stacks' answers every test file validated, summed (CI's log shows it). */
export default function reportContractCount(): void {
  const total = collectTallies();
  if (!total) return;
  const pairs = Object.keys(total.byOperationStatus).length;
  console.log(
    `[contract] ${total.validated} pipeline responses validated against the OpenAPI document ` +
      `(${pairs} operation/status pair${pairs === 1 ? '' : 's'})`,
  );
}

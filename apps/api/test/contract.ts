/**
 * The answer check lives in @inno-train/contract-check, shared with the pipeline tests (which run it
 * on every answer a running stack gives them); this file keeps the names apps/api's tests import.
 */
export { createContractValidator, driftMessage, type ContractValidator, type Exchange, type Verdict } from '@inno-train/contract-check';

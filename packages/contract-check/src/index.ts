export {
  methodsOf,
  OPENAPI_METHODS,
  operationOf,
  operationsOf,
  parseOpenApiDocument,
  type OpenApiDocumentLike,
  type OpenApiMethod,
  type OpenApiOperationLike,
  type OpenApiResponseLike,
} from './document';
export { exchangeOf, headersOf, type ReceivedAnswer } from './exchange';
export {
  checkExchange,
  collectTallies,
  CONTRACT_REPORT_DIR_ENV,
  emptyTally,
  leaveTally,
  openContractReport,
  operationOfKey,
  type ContractTally,
} from './tally';
export {
  createContractValidator,
  driftMessage,
  isDocumentedPath,
  mediaTypeOf,
  type ContractValidator,
  type Exchange,
  type Verdict,
} from './validator';

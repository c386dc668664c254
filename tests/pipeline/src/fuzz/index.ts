// Generators, oracles and helpers of the fuzz and property tests (test/api-fuzz.test.ts,
// test/hostile-input.property.test.ts). Not exported from the package index: they pull in fast-check.
export * from './random';
export * from './well-formed';
export * from './api-values';
export * from './api-job-bodies';
export * from './api-request';
export * from './api-job-requests';
export * from './api-route-requests';
export * from './api-request-mix';
export * from './api-oracles';
export * from './api-fuzz-run';
export * from './api-accepted-jobs';
export * from './api-report';
export * from './shell-hostile-strings';
export * from './job-input-arbitraries';
export * from './job-records';
export * from './submission-fields';
export * from './host-probes';
export * from './stage-in-probes';
export * from './property-lanes';

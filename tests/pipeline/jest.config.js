module.exports = {
  ...require('../../jest.preset.js'),
  // Every answer the tests receive from a stack's API on /v1 and /healthz is validated against the
  // OpenAPI document it serves; the run ends with their count.
  setupFilesAfterEnv: ['<rootDir>/src/contract-setup.ts'],
  globalSetup: '<rootDir>/src/contract-global-setup.ts',
  globalTeardown: '<rootDir>/src/contract-global-teardown.ts',
};

module.exports = {
  ...require('../../jest.preset.js'),
  // Every answer the tests receive on /v1 and /healthz is validated against the OpenAPI document.
  setupFilesAfterEnv: ['<rootDir>/test/contract-setup.ts'],
  globalSetup: '<rootDir>/test/contract-global-setup.ts',
  globalTeardown: '<rootDir>/test/contract-global-teardown.ts',
};

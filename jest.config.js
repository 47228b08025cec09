/** Tests run against real parts (HTTP receivers, PostgreSQL, SOAP clients); type checking is
 * done once by `tsc --noEmit` in `npm test`, so ts-jest only transpiles (isolatedModules). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testTimeout: 60000,
  maxWorkers: 2,
};

/**
 * Dependency rules, checked by `npm run check:deps` (and CI).
 *
 * Workspace packages normally resolve through node_modules symlinks to `packages/<name>/dist`
 * (their `exports` point at dist). Here `@inno-train/*` resolves to each package's `src` instead
 * (paths in tsconfig.depcruise.json, used by this check only), so an import of another package is
 * an edge to its `src/index.ts` and cycles across packages show up like cycles between files.
 *
 * Production code is `apps/<app>/src` and `packages/<name>/src`, less the test packages and test
 * files. Test packages: test-kit, lambda-simulator and everything under tests/. Test files
 * (`test/**`, `*.test.ts`) may import anything.
 */

const SRC_FOLDER = '^(apps|packages|tests)/[^/]+/src$';
const TEST_PACKAGES = '^(packages/(test-kit|lambda-simulator|contract-check)|tests/[^/]+)/';
const TEST_FILES = '(^|/)test/|\\.test\\.ts$';
const PRODUCTION = '^(apps|packages)/[^/]+/src/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Files that import each other (type-only imports included): move what both need into a file of its own.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-circular-packages',
      severity: 'error',
      comment: 'Workspace packages that import each other: the shared part belongs in a package both can depend on.',
      scope: 'folder',
      from: { path: SRC_FOLDER },
      to: { path: SRC_FOLDER, circular: true },
    },
    {
      name: 'no-test-packages-in-production',
      severity: 'error',
      comment: 'Production code may not import test-kit, lambda-simulator or tests/*: they are test infrastructure.',
      from: { path: PRODUCTION, pathNot: [TEST_PACKAGES, TEST_FILES] },
      to: { path: TEST_PACKAGES },
    },
    {
      name: 'embedded-s3-only-in-all-in-one',
      severity: 'error',
      comment: 'embedded-s3 is for the all-in-one (npm start) and test packages only (docs/architecture.md, "Shape").',
      from: { path: PRODUCTION, pathNot: [TEST_PACKAGES, TEST_FILES, '^apps/all-in-one/src/', '^packages/embedded-s3/'] },
      to: { path: '^packages/embedded-s3/' },
    },
    {
      name: 'workspace-imports-resolve-to-src',
      severity: 'error',
      comment:
        'An @inno-train import resolved to a built dist/ (or not at all): add the package to tsconfig.depcruise.json paths, or this check misses its edges.',
      from: {},
      to: { path: '^(apps|packages|tests)/[^/]+/dist/' },
    },
    {
      name: 'no-unresolvable-workspace-imports',
      severity: 'error',
      comment:
        'An @inno-train import that does not resolve: a package that does not exist, or a path missing from tsconfig.depcruise.json.',
      from: {},
      to: { path: '^@inno-train/', couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.depcruise.json' },
  },
};

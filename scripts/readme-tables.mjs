#!/usr/bin/env node
// Rewrites the README's tables of event types, job error codes and API error codes from their
// description records in the packages (run after a build): npm run docs:tables. The schemas test
// readme-tables.test.ts fails while the committed tables are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import schemas from '@inno-train/schemas';

const file = new URL('../README.md', import.meta.url);
const before = readFileSync(file, 'utf8');
const after = schemas.withReadmeTables(before);
if (after === before) {
  console.log('README.md: the tables are up to date');
} else {
  writeFileSync(file, after);
  console.log(`README.md: rewrote ${schemas.staleReadmeTables(before).join(', ')}`);
}

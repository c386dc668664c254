#!/usr/bin/env node
// Rewrites the state diagram in docs/architecture.md from the catalog (run after `npm run build`):
// npm run docs:diagram. The catalog test fails while the committed diagram is stale.
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { stateDiagram } = require('../dist');

const file = join(__dirname, '..', '..', '..', 'docs', 'architecture.md');
const begin = '<!-- state-diagram:begin (generated from packages/workflow-constants/src/catalog.ts) -->';
const end = '<!-- state-diagram:end -->';
const text = readFileSync(file, 'utf8');
const from = text.indexOf(begin);
const to = text.indexOf(end);
if (from < 0 || to < from) throw new Error(`${file} has no ${begin} ... ${end} block`);
writeFileSync(file, `${text.slice(0, from + begin.length)}\n\`\`\`mermaid\n${stateDiagram()}\n\`\`\`\n${text.slice(to)}`);
console.log(`wrote the state diagram into ${file}`);

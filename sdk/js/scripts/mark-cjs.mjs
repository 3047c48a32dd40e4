// dist/cjs holds the CommonJS build (require('@gatehouse/sdk')): tell Node so.
import { writeFileSync } from 'node:fs';
writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{"type":"commonjs"}\n');

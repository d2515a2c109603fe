// Generates a typed client from Cashbox's OpenAPI document and compiles it, as a team that
// does not use Stripe's SDKs would: `cashbox openapi` (CASHBOX_BIN, default
// target/debug/cashbox) writes the document, openapi-typescript turns it into types, and tsc
// type-checks typed-client.ts against them (and emits the JavaScript the suite runs). Any
// type error fails `npm test` before a test runs.

import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const binary = process.env.CASHBOX_BIN || join(HERE, '..', '..', '..', 'target', 'debug', 'cashbox');
mkdirSync(join(HERE, 'generated'), { recursive: true });
// Straight into the file: the document is over a megabyte, past execFileSync's buffer.
const document = openSync(join(HERE, 'generated', 'openapi.json'), 'w');
execFileSync(binary, ['openapi'], { stdio: ['ignore', document, 'inherit'] });
closeSync(document);
const bin = (name) => join(HERE, 'node_modules', '.bin', name);
execFileSync(bin('openapi-typescript'), ['generated/openapi.json', '-o', 'generated/cashbox.d.ts'], {
  cwd: HERE, stdio: 'inherit',
});
execFileSync(bin('tsc'), ['-p', 'tsconfig.json'], { cwd: HERE, stdio: 'inherit' });

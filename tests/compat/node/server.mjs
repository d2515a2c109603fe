// Starts a real `cashbox serve` for the Node suite, as tests/compat/conftest.py does for the
// Python one: CASHBOX_BIN names the binary (default target/debug/cashbox);
// CASHBOX_COMPAT_DATABASE_URL, if set, runs it on that database (PostgreSQL in CI), otherwise
// SQLite in a temporary directory. Stopping it runs `cashbox ledger check`, which must pass.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Stripe from 'stripe';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export async function startCashbox() {
  const binary = process.env.CASHBOX_BIN || join(ROOT, 'target', 'debug', 'cashbox');
  const key = 'sk_test_' + randomBytes(16).toString('hex');
  const env = {
    PATH: process.env.PATH || '',
    CASHBOX_LISTEN: '127.0.0.1:0',
    CASHBOX_DATA_DIR: mkdtempSync(join(tmpdir(), 'cashbox-node-')),
    CASHBOX_SECRET_KEY: key,
    CASHBOX_LOG: 'warn',
  };
  if (process.env.CASHBOX_COMPAT_DATABASE_URL) {
    env.DATABASE_URL = process.env.CASHBOX_COMPAT_DATABASE_URL;
  }
  const proc = spawn(binary, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cashbox did not start: ' + stderr)), 60_000);
    const lines = createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      if (line.startsWith('cashbox listening on ')) {
        clearTimeout(timer);
        resolve(line.slice('cashbox listening on '.length).trim());
      }
    });
    proc.on('exit', () => reject(new Error('cashbox exited: ' + stderr)));
  });
  // A publishable key, for what Stripe.js does in a browser.
  const made = execFileSync(binary, ['keys', 'create', '--type', 'publishable', '--note', 'node'], {
    env, encoding: 'utf8',
  });
  const publishable = made.split('\n').find((l) => l.startsWith('key:')).split(/\s+/).pop();
  const url = new URL(base);
  const options = {
    host: url.hostname, port: Number(url.port), protocol: 'http', maxNetworkRetries: 0,
  };
  return {
    base,
    key,
    stripe: new Stripe(key, options),
    browser: new Stripe(publishable, options),
    async stop() {
      const exited = new Promise((resolve) => proc.on('exit', resolve));
      proc.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`cashbox exited with ${code}: ${stderr}`);
      const check = execFileSync(binary, ['ledger', 'check'], { env, encoding: 'utf8' });
      if (!check.includes('ledger is balanced')) throw new Error(check);
    },
  };
}

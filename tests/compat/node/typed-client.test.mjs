// The client generated from Cashbox's OpenAPI document (typed-client.ts, compiled by
// generate-client.mjs) run against a real `cashbox serve`: what it reads through the types is
// what the server answered.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startCashbox } from './server.mjs';
import { tour } from './generated/typed-client.js';

let cb;
before(async () => {
  cb = await startCashbox();
});
after(async () => {
  await cb.stop();
});

test('a generated client pays, subscribes, lists, searches and deletes', async () => {
  const tag = randomBytes(6).toString('hex');
  const r = await tour(cb.base, cb.key, tag);
  assert.equal(r.customerEmail, `${tag}@example.com`);
  assert.equal(r.paymentStatus, 'succeeded');
  assert.equal(r.chargeLast4, '4242');
  assert.equal(r.subscriptionStatus, 'active');
  assert.equal(r.firstLineAmount, 1500);
  assert.ok(r.firstLinePeriodEnd > 0);
  assert.equal(r.invoiceTotal, 1500);
  assert.equal(r.found.length, 1);
  assert.equal(r.deleted, true);
});

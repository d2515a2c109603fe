// Cashbox driven by Stripe's official Node SDK (the `stripe` package, as an app written from
// Stripe's current docs uses it), against a running `cashbox serve`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { startCashbox } from './server.mjs';
// Compiled by generate-client.mjs (`npm test` runs it first) from typed-client.ts.
import { tour } from './generated/typed-client.js';

let cb;
let stripe;
before(async () => {
  cb = await startCashbox();
  stripe = cb.stripe;
});
after(async () => {
  await cb.stop();
});

const tag = () => randomBytes(6).toString('hex');

test('customers: create, retrieve, update, list with auto-pagination, delete', async () => {
  const t = tag();
  const made = [];
  for (let i = 0; i < 5; i++) {
    made.push(await stripe.customers.create({ email: `${t}-${i}@example.com`, metadata: { t } }));
  }
  const got = await stripe.customers.retrieve(made[0].id);
  assert.equal(got.email, `${t}-0@example.com`);
  const updated = await stripe.customers.update(made[0].id, { name: 'Jenny Rosen' });
  assert.equal(updated.name, 'Jenny Rosen');
  const seen = [];
  for await (const c of stripe.customers.list({ limit: 2 })) {
    if (c.metadata.t === t) seen.push(c.id);
  }
  assert.deepEqual(new Set(seen), new Set(made.map((c) => c.id)));
  assert.equal(seen.length, made.length, 'each customer once');
  const deleted = await stripe.customers.del(made[4].id);
  assert.equal(deleted.deleted, true);
});

test('payment intents: a payment, declines as typed card errors, 3-D Secure, refunds', async () => {
  const pi = await stripe.paymentIntents.create({
    amount: 2000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true,
  });
  assert.equal(pi.status, 'succeeded');
  assert.ok(pi.latest_charge.startsWith('ch_'));

  await assert.rejects(
    stripe.paymentIntents.create({
      amount: 2000, currency: 'usd', payment_method: 'pm_card_chargeDeclinedInsufficientFunds',
      confirm: true,
    }),
    (e) => {
      assert.ok(e instanceof Stripe.errors.StripeCardError, e.constructor.name);
      assert.equal(e.code, 'card_declined');
      assert.equal(e.decline_code, 'insufficient_funds');
      assert.equal(e.statusCode, 402);
      assert.equal(e.raw.payment_intent.status, 'requires_payment_method');
      return true;
    },
  );

  const secure = await stripe.paymentIntents.create({
    amount: 3000, currency: 'usd', payment_method: 'pm_card_authenticationRequired',
    confirm: true, return_url: 'https://shop.example/return',
  });
  assert.equal(secure.status, 'requires_action');
  assert.equal(secure.next_action.type, 'redirect_to_url');
  const approved = await stripe.rawRequest(
    'POST', `/v1/payment_intents/${secure.id}/_authenticate`, { success: 'true' },
  );
  assert.equal(approved.status, 'succeeded');

  const part = await stripe.refunds.create({ payment_intent: pi.id, amount: 500 });
  assert.equal(part.status, 'succeeded');
  const rest = await stripe.refunds.create({ payment_intent: pi.id });
  assert.equal(rest.amount, 1500);
  await assert.rejects(
    stripe.refunds.create({ payment_intent: pi.id, amount: 1 }),
    (e) => e instanceof Stripe.errors.StripeInvalidRequestError,
  );
  const charge = await stripe.charges.retrieve(pi.latest_charge);
  assert.equal(charge.refunded, true);
});

test('the default_incomplete subscription, confirmed as Stripe.js confirms it', async () => {
  const customer = await stripe.customers.create({ email: `${tag()}@example.com` });
  const product = await stripe.products.create({ name: 'Node plan' });
  const price = await stripe.prices.create({
    product: product.id, currency: 'usd', unit_amount: 1500, recurring: { interval: 'month' },
  });
  const sub = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id }],
    payment_behavior: 'default_incomplete',
    payment_settings: { save_default_payment_method: 'on_subscription' },
    expand: ['latest_invoice.confirmation_secret'],
  });
  assert.equal(sub.status, 'incomplete');
  const secret = sub.latest_invoice.confirmation_secret.client_secret;
  assert.equal(sub.latest_invoice.confirmation_secret.type, 'payment_intent');

  // The browser: a card made and the intent confirmed with the publishable key only.
  const card = await cb.browser.paymentMethods.create({
    type: 'card', card: { number: '4242424242424242', exp_month: 12, exp_year: 2031, cvc: '123' },
  });
  const piId = secret.split('_secret_')[0];
  const confirmed = await cb.browser.paymentIntents.confirm(piId, {
    payment_method: card.id, client_secret: secret,
  });
  assert.equal(confirmed.status, 'succeeded');

  const active = await stripe.subscriptions.retrieve(sub.id);
  assert.equal(active.status, 'active');
  assert.equal(active.default_payment_method, card.id);
  const invoice = await stripe.invoices.retrieve(active.latest_invoice, { expand: ['payments'] });
  assert.equal(invoice.status, 'paid');
  assert.equal(invoice.parent.subscription_details.subscription, sub.id);
  assert.equal(invoice.payments.data.length, 1);
  assert.equal(invoice.payments.data[0].status, 'paid');
  const payment = await stripe.invoicePayments.retrieve(invoice.payments.data[0].id);
  assert.equal(payment.payment.payment_intent, piId);
});

test('search: by email and metadata across pages, and what encryption refuses', async () => {
  const t = tag();
  const ids = [];
  for (let i = 0; i < 5; i++) {
    const c = await stripe.customers.create({
      email: `${t}-${i}@example.com`, metadata: { t, odd: String(i % 2 === 1) },
    });
    ids.push(c.id);
  }
  const one = await stripe.customers.search({ query: `email:'${t}-2@example.com'` });
  assert.deepEqual(one.data.map((c) => c.id), [ids[2]]);
  const seen = [];
  for await (const c of stripe.customers.search({ query: `metadata['t']:'${t}'`, limit: 2 })) {
    seen.push(c.id);
  }
  assert.deepEqual(new Set(seen), new Set(ids));
  assert.equal(seen.length, ids.length);
  const odd = await stripe.customers.search({
    query: `metadata['t']:'${t}' AND metadata['odd']:'true'`, expand: ['total_count'],
  });
  assert.equal(odd.total_count, 2);
  await assert.rejects(
    stripe.customers.search({ query: "email~'example'" }),
    (e) => e instanceof Stripe.errors.StripeInvalidRequestError
      && e.param === 'query' && /blind index/.test(e.message),
  );
});

test('idempotency: a retry replays, other parameters under the same key are refused', async () => {
  const key = `node-${tag()}`;
  const first = await stripe.customers.create({ email: 'idem@example.com' }, { idempotencyKey: key });
  const again = await stripe.customers.create({ email: 'idem@example.com' }, { idempotencyKey: key });
  assert.equal(again.id, first.id);
  assert.equal(again.lastResponse.headers['idempotent-replayed'], 'true');
  await assert.rejects(
    stripe.customers.create({ email: 'other@example.com' }, { idempotencyKey: key }),
    (e) => e instanceof Stripe.errors.StripeIdempotencyError,
  );
});

test('typed errors: unknown parameters, missing objects, a bad key', async () => {
  await assert.rejects(
    stripe.customers.create({ bogus: 1 }),
    (e) => e instanceof Stripe.errors.StripeInvalidRequestError
      && e.code === 'parameter_unknown' && e.param === 'bogus',
  );
  await assert.rejects(
    stripe.customers.retrieve('cus_missing'),
    (e) => e instanceof Stripe.errors.StripeInvalidRequestError
      && e.code === 'resource_missing' && e.statusCode === 404,
  );
  const url = new URL(cb.base);
  const wrong = new Stripe('sk_test_wrong', {
    host: url.hostname, port: Number(url.port), protocol: 'http', maxNetworkRetries: 0,
  });
  await assert.rejects(
    wrong.customers.list(),
    (e) => e instanceof Stripe.errors.StripeAuthenticationError,
  );
});

test('webhooks: deliveries verify with stripe.webhooks.constructEvent', async () => {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks), signature: req.headers['stripe-signature'] });
      res.end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = await stripe.webhookEndpoints.create({
    url: `http://127.0.0.1:${server.address().port}/hook`,
    enabled_events: ['customer.created'],
  });
  try {
    const customer = await stripe.customers.create({ email: `${tag()}@example.com` });
    const deadline = Date.now() + 20_000;
    let event;
    while (!event && Date.now() < deadline) {
      for (const r of received) {
        const e = stripe.webhooks.constructEvent(r.body, r.signature, endpoint.secret);
        if (e.data.object.id === customer.id) event = e;
      }
      if (!event) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(event, 'the customer.created delivery arrived and verified');
    assert.equal(event.type, 'customer.created');
    assert.throws(
      () => stripe.webhooks.constructEvent(received[0].body, received[0].signature, 'whsec_other'),
      (e) => e instanceof Stripe.errors.StripeSignatureVerificationError,
    );
    assert.throws(
      () => stripe.webhooks.constructEvent(
        Buffer.concat([received[0].body, Buffer.from(' ')]), received[0].signature, endpoint.secret,
      ),
      (e) => e instanceof Stripe.errors.StripeSignatureVerificationError,
    );
  } finally {
    await stripe.webhookEndpoints.del(endpoint.id);
    server.close();
  }
});

// The client generated from Cashbox's OpenAPI document (typed-client.ts): what it reads
// through the generated types is what the server answered.
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

test('checkout and the billing portal: sessions an app sends its customers to', async () => {
  const product = await stripe.products.create({ name: `Course ${tag()}` });
  const price = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 4900 });
  const session = await stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: 'https://app.example/done?session={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://app.example/cart',
    customer_creation: 'always',
  });
  assert.equal(session.object, 'checkout.session');
  assert.equal(session.amount_total, 4900);
  assert.match(session.url, /\/checkout\/cs_test_/);
  const items = await stripe.checkout.sessions.listLineItems(session.id);
  assert.equal(items.data[0].price.id, price.id);
  const expired = await stripe.checkout.sessions.expire(session.id);
  assert.equal(expired.status, 'expired');

  const customer = await stripe.customers.create({ email: `${tag()}@example.com` });
  const portal = await stripe.billingPortal.sessions.create({
    customer: customer.id,
    return_url: 'https://app.example/account',
  });
  assert.equal(portal.object, 'billing_portal.session');
  assert.match(portal.url, /\/portal\/bps_/);
  const page = await fetch(portal.url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /Billing/);
  const configs = await stripe.billingPortal.configurations.list({ is_default: true });
  assert.equal(configs.data[0].id, portal.configuration);
});

// A client generated from Cashbox's OpenAPI document (openapi-typescript types and the
// openapi-fetch client), as a team that does not use Stripe's SDKs would write one. `tsc`
// compiling this file is the check that the document describes what an app reads: a path,
// parameter or field that the document lost or retyped fails the build; the Node suite then
// runs it against a real server (stripe-node.test.mjs).

import createClient from 'openapi-fetch';
import type { paths, components } from './generated/cashbox.js';

type Invoice = components['schemas']['Invoice'];

export interface TourResult {
  customerEmail: string | null;
  paymentStatus: string;
  chargeLast4: string | null;
  subscriptionStatus: string;
  firstLineAmount: number;
  firstLinePeriodEnd: number;
  invoiceTotal: number;
  found: string[];
  deleted: boolean;
}

export async function tour(baseUrl: string, key: string, tag: string): Promise<TourResult> {
  const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });
  const must = <T>(r: { data?: T; error?: unknown }): T => {
    if (r.data === undefined) throw new Error(`request failed: ${JSON.stringify(r.error)}`);
    return r.data;
  };

  const customer = must(await client.POST('/v1/customers', {
    body: { email: `${tag}@example.com`, name: 'Typed Client', metadata: { tag } },
  }));

  const payment = must(await client.POST('/v1/payment_intents', {
    body: {
      amount: 2000, currency: 'usd', customer: customer.id,
      payment_method: 'pm_card_visa', confirm: true,
    },
  }));
  const charge = must(await client.GET('/v1/charges/{id}', {
    params: { path: { id: String(payment.latest_charge) } },
  }));

  const price = must(await client.POST('/v1/prices', {
    body: {
      currency: 'usd', unit_amount: 1500, recurring: { interval: 'month' },
      product_data: { name: `Typed ${tag}` },
    },
  }));
  await client.POST('/v1/payment_methods/{id}/attach', {
    params: { path: { id: 'pm_card_visa' } }, body: { customer: customer.id },
  });
  const subscription = must(await client.POST('/v1/subscriptions', {
    body: {
      customer: customer.id, items: [{ price: price.id }],
      default_payment_method: 'pm_card_visa',
    },
  }));

  const invoices = must(await client.GET('/v1/invoices', {
    params: { query: { customer: customer.id } },
  }));
  const invoice: Invoice = invoices.data[0];
  const line = invoice.lines.data[0];

  const found = must(await client.GET('/v1/customers/search', {
    params: { query: { query: `metadata['tag']:'${tag}'` } },
  }));
  const deleted = must(await client.DELETE('/v1/customers/{id}', {
    params: { path: { id: customer.id } },
  }));

  return {
    customerEmail: customer.email ?? null,
    paymentStatus: payment.status,
    chargeLast4: charge.payment_method_details.card.last4,
    subscriptionStatus: subscription.status,
    firstLineAmount: line.amount,
    firstLinePeriodEnd: line.period.end,
    invoiceTotal: invoice.total,
    found: found.data.map((c) => c.id),
    deleted: deleted.deleted,
  };
}

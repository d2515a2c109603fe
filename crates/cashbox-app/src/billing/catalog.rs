//! Products and prices: create, retrieve, update, list; a product's `default_price`; price
//! lookup keys (unique, moved with `transfer_lookup_key`).

use cashbox_core::ParamError;
use cashbox_core::billing::catalog::{
    PRICE_PREFIX, PRODUCT_PREFIX, Price, PriceCreateParams, PriceListParams, PriceUpdateParams,
    Product, ProductCreateParams, ProductDataParams, ProductListParams, ProductUpdateParams,
};
use cashbox_core::event::previous_attributes;
use cashbox_core::id::{check_custom_id, has_prefix, new_id};
use cashbox_store::{DocFilter, DocTable, PriceAttributes, PriceFilter, Tx};
use serde_json::{Value, json};

use crate::docs::{Doc, active_status};
use crate::events::ListResult;
use crate::expand::Reader;
use crate::{App, AppError, AppResult, RequestCtx};

impl Doc for Product {
    const TABLE: DocTable = DocTable::Products;
    const PREFIX: &'static str = PRODUCT_PREFIX;
    const NAME: &'static str = "product";
    fn search_entry(&self) -> Option<cashbox_core::search::Entry> {
        Some(cashbox_core::search::Searchable::search_entry(self))
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        None
    }
    fn status(&self) -> String {
        active_status(self.active)
    }
    fn valid_id(id: &str) -> bool {
        check_custom_id("id", id).is_ok()
    }
}

impl Doc for Price {
    const TABLE: DocTable = DocTable::Prices;
    const PREFIX: &'static str = PRICE_PREFIX;
    const NAME: &'static str = "price";
    fn search_entry(&self) -> Option<cashbox_core::search::Entry> {
        Some(cashbox_core::search::Searchable::search_entry(self))
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        None
    }
    fn status(&self) -> String {
        active_status(self.active)
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.product)
    }
}

/// Splits Stripe's includable price fields (`tiers`, `currency_options`, or `data.…` in lists)
/// from the links to expand.
fn includes(expand: &[Vec<String>], list: bool) -> (bool, bool, Vec<Vec<String>>) {
    let mut tiers = false;
    let mut options = false;
    let mut rest = Vec::new();
    for path in expand {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let field = match (list, p.as_slice()) {
            (false, [f]) => Some(*f),
            (true, ["data", f]) => Some(*f),
            _ => None,
        };
        match field {
            Some("tiers") => tiers = true,
            Some("currency_options") => options = true,
            _ => rest.push(path.clone()),
        }
    }
    (tiers, options, rest)
}

fn price_attributes(p: &Price) -> PriceAttributes {
    PriceAttributes {
        price_id: p.id.clone(),
        kind: p.kind().to_string(),
        currency: p.currency.code(),
        interval: p
            .recurring
            .as_ref()
            .map(|r| r.interval.as_str().to_string()),
        usage_type: p
            .recurring
            .as_ref()
            .map(|r| r.usage_type.as_str().to_string()),
        meter: p.recurring.as_ref().and_then(|r| r.meter.clone()),
        lookup_key: p.lookup_key.clone(),
    }
}

impl App {
    pub(crate) async fn insert_product(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        id: Option<&str>,
        product: impl FnOnce(String) -> Result<Product, ParamError>,
    ) -> AppResult<Product> {
        let id = match id {
            Some(id) => {
                check_custom_id("id", id)?;
                if tx.doc(DocTable::Products, id).await?.is_some() {
                    return Err(ParamError::new(
                        "id",
                        "resource_already_exists",
                        format!("Product already exists: a product with id '{id}' exists."),
                    )
                    .into());
                }
                id.to_string()
            }
            None => new_id(PRODUCT_PREFIX),
        };
        let product = product(id)?;
        self.insert_doc(tx, &product).await?;
        self.record_event(tx, ctx, "product.created", &product.to_json(), None)
            .await?;
        Ok(product)
    }

    pub(crate) async fn insert_price(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        price: &Price,
    ) -> AppResult<()> {
        self.insert_doc(tx, price).await?;
        save_attributes(tx, price).await?;
        self.record_event(tx, ctx, "price.created", &price.to_json(), None)
            .await
    }

    /// Makes `key` free for `price_id`: refused if another price holds it, unless
    /// `transfer` says to move it (the other price loses it, with a `price.updated`).
    async fn claim_lookup_key(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        key: &str,
        price_id: &str,
        transfer: bool,
    ) -> AppResult<()> {
        let Some(holder) = tx.price_with_lookup_key(key).await? else {
            return Ok(());
        };
        if holder == price_id {
            return Ok(());
        }
        if !transfer {
            return Err(ParamError::invalid(
                "lookup_key",
                format!(
                    "A price (`{holder}`) already uses that lookup key. Pass transfer_lookup_key=true to move it to this price."
                ),
            )
            .into());
        }
        tx.release_lookup_key(key).await?;
        let mut old: Price = self.load_for_update(tx, &holder).await?;
        let before = old.to_json();
        old.lookup_key = None;
        self.save_doc(tx, &old).await?;
        let object = old.to_json();
        let previous = previous_attributes(&before, &object);
        self.record_event(tx, ctx, "price.updated", &object, previous)
            .await
    }
}

/// Saves a price's list attributes. Two requests racing for one new lookup key both pass the
/// check in `claim_lookup_key` (there is no row to lock yet); the unique index stops the
/// second, which gets the same answer as if it had come later.
async fn save_attributes(tx: &mut Tx, price: &Price) -> AppResult<()> {
    match tx.save_price_attributes(&price_attributes(price)).await {
        Err(e) if e.is_unique_violation() => Err(ParamError::invalid(
            "lookup_key",
            "Another price took that lookup key at the same moment; pass transfer_lookup_key=true to move it to this price.",
        )
        .into()),
        other => Ok(other?),
    }
}

/// A product described inline by a price create (`product_data`), and its custom id if any.
fn product_from_data(d: &ProductDataParams, now: i64) -> AppResult<(Option<String>, Product)> {
    let p = ProductCreateParams {
        id: None,
        name: d.name.clone(),
        active: d.active,
        metadata: d.metadata.clone(),
        statement_descriptor: d.statement_descriptor.clone(),
        tax_code: d.tax_code.clone(),
        unit_label: d.unit_label.clone(),
        ..ProductCreateParams::default()
    };
    if let Some(id) = &d.id {
        check_custom_id("id", id).map_err(|e| prefix_param(e, "product_data"))?;
    }
    let product =
        Product::new(String::new(), now, &p).map_err(|e| prefix_param(e, "product_data"))?;
    Ok((d.id.clone(), product))
}

/// `param` → `outer[param]` (a nested object's error names its full path).
fn prefix_param(mut e: ParamError, outer: &str) -> ParamError {
    let inner = e.param.clone();
    let (head, tail) = match inner.find('[') {
        Some(i) => (&inner[..i], &inner[i..]),
        None => (inner.as_str(), ""),
    };
    e.param = format!("{outer}[{head}]{tail}");
    e.message = e.message.replace(&inner, &e.param);
    e
}

crate::service!(Products, products, "Products of the catalog.");

impl Products<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        params: ProductCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let now = self.now();
        // Everything is checked before anything is written.
        let probe = Product::new(String::new(), now, &params)?;
        let default_price = params
            .default_price_data
            .map(|d| PriceCreateParams {
                currency: d.currency,
                unit_amount: d.unit_amount,
                unit_amount_decimal: d.unit_amount_decimal,
                recurring: d.recurring,
                tax_behavior: d.tax_behavior,
                currency_options: d.currency_options,
                metadata: d.metadata,
                ..PriceCreateParams::default()
            })
            .map(|p| {
                Price::new(new_id(PRICE_PREFIX), now, String::new(), &p)
                    .map_err(|e| prefix_param(e, "default_price_data"))
            })
            .transpose()?;
        let mut tx = self.store().begin().await?;
        let mut product = self
            .insert_product(&mut tx, ctx, params.id.as_deref(), |id| {
                Ok(Product { id, ..probe })
            })
            .await?;
        if let Some(mut price) = default_price {
            price.product = product.id.clone();
            self.insert_price(&mut tx, ctx, &price).await?;
            product.default_price = Some(price.id.clone());
            self.save_doc(&mut tx, &product).await?;
        }
        self.finish(tx, ctx, product.to_json(), expand).await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        self.retrieve_doc(id, expand, Product::to_json).await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: ProductUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut product: Product = self.load_for_update(&mut tx, id).await?;
        let before = product.to_json();
        product.apply(&params, self.now())?;
        if let Some(default_price) = &params.default_price {
            if let Some(price_id) = default_price {
                let price: Option<Price> = self.find_for_update(&mut tx, price_id).await?;
                match price {
                    Some(p) if p.product == product.id && p.active => {}
                    Some(p) if p.product == product.id => {
                        return Err(ParamError::invalid(
                            "default_price",
                            format!(
                                "The price {price_id} is inactive; a default price must be active."
                            ),
                        )
                        .into());
                    }
                    Some(_) => {
                        return Err(ParamError::invalid(
                            "default_price",
                            format!("The price {price_id} belongs to another product."),
                        )
                        .into());
                    }
                    None => {
                        return Err(AppError::MissingReference {
                            object: "price",
                            id: price_id.clone(),
                            param: "default_price".into(),
                        });
                    }
                }
            }
            product.default_price = default_price.clone();
        }
        let object = product.to_json();
        self.finish_update(
            tx,
            ctx,
            &product,
            (&before, object),
            "product.updated",
            expand,
        )
        .await
    }

    pub async fn delete(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let product: Product = self.load_for_update(&mut tx, id).await?;
        if tx.price_count(&product.id).await? > 0 {
            return Err(ParamError::invalid(
                "",
                "This product cannot be deleted because it has one or more user-created prices.",
            )
            .into());
        }
        tx.delete_doc(DocTable::Products, &product.id).await?;
        self.record_event(&mut tx, ctx, "product.deleted", &product.to_json(), None)
            .await?;
        let response = json!({"id": product.id, "object": "product", "deleted": true});
        self.commit_response(tx, ctx, 200, &response).await?;
        Ok(response)
    }

    pub async fn list(
        &self,
        params: &ProductListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            status: params.active.map(active_status),
            ids: params.ids.clone(),
            created: params.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        self.list_docs::<Product>(&filter, &params.page()?, expand, Product::to_json)
            .await
    }
}

crate::service!(Prices, prices, "Prices of the catalog's products.");

impl Prices<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        params: PriceCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let now = self.now();
        // Checked in full before the transaction; the product is filled in inside it.
        let mut price = Price::new(new_id(PRICE_PREFIX), now, String::new(), &params)?;
        let product_data = match (&params.product, &params.product_data) {
            (Some(_), Some(_)) => {
                return Err(ParamError::invalid(
                    "product",
                    "You may only specify one of these parameters: product, product_data.",
                )
                .into());
            }
            (None, None) => {
                return Err(ParamError::missing("product").into());
            }
            (None, Some(d)) => Some(product_from_data(d, now)?),
            (Some(_), None) => None,
        };
        let mut tx = self.store().begin().await?;
        let product_id = match (&params.product, product_data) {
            (Some(pid), _) => {
                self.find_for_update::<Product>(&mut tx, pid)
                    .await?
                    .ok_or_else(|| AppError::MissingReference {
                        object: "product",
                        id: pid.clone(),
                        param: "product".into(),
                    })?
                    .id
            }
            (None, Some((custom_id, data))) => {
                self.insert_product(&mut tx, ctx, custom_id.as_deref(), |id| {
                    Ok(Product { id, ..data })
                })
                .await?
                .id
            }
            (None, None) => unreachable!("checked above"),
        };
        price.product = product_id;
        if let Some(key) = &price.lookup_key {
            self.claim_lookup_key(
                &mut tx,
                ctx,
                key,
                &price.id,
                params.transfer_lookup_key == Some(true),
            )
            .await?;
        }
        self.insert_price(&mut tx, ctx, &price).await?;
        let (tiers, options, rest) = includes(expand, false);
        self.finish(tx, ctx, price.to_json_with(tiers, options), &rest)
            .await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        let price: Price = self.load(id).await?;
        let (tiers, options, rest) = includes(expand, false);
        let mut object = price.to_json_with(tiers, options);
        self.expand(&mut Reader::Store(self.store()), &mut object, &rest)
            .await?;
        Ok(object)
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: PriceUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut price: Price = self.load_for_update(&mut tx, id).await?;
        let before = price.to_json();
        price.apply(&params)?;
        if let Some(key) = &params.lookup_key {
            if let Some(k) = key {
                self.claim_lookup_key(
                    &mut tx,
                    ctx,
                    k,
                    &price.id,
                    params.transfer_lookup_key == Some(true),
                )
                .await?;
            }
            price.lookup_key = key.clone();
        }
        self.save_doc(&mut tx, &price).await?;
        save_attributes(&mut tx, &price).await?;
        let object = price.to_json();
        let previous = previous_attributes(&before, &object);
        self.record_event(&mut tx, ctx, "price.updated", &object, previous)
            .await?;
        let (tiers, options, rest) = includes(expand, false);
        self.finish(tx, ctx, price.to_json_with(tiers, options), &rest)
            .await
    }

    pub async fn list(
        &self,
        params: &PriceListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let page = params.page()?;
        if let Some((param, id)) = page.cursor_id()
            && (!has_prefix(id, PRICE_PREFIX)
                || self.store().doc(DocTable::Prices, id).await?.is_none())
        {
            return Err(AppError::MissingReference {
                object: "price",
                id: id.to_string(),
                param: param.to_string(),
            });
        }
        if let Some(kind) = &params.kind
            && kind != "one_time"
            && kind != "recurring"
        {
            return Err(ParamError::invalid(
                "type",
                format!("Invalid type: must be one of one_time or recurring; you passed {kind}"),
            )
            .into());
        }
        let currency = params
            .currency
            .as_deref()
            .map(|c| cashbox_core::currency::Currency::parse("currency", c).map(|c| c.code()))
            .transpose()?;
        let recurring = params.recurring.as_ref();
        let filter = PriceFilter {
            active: params.active,
            product: params.product.clone(),
            kind: params.kind.clone(),
            currency,
            lookup_keys: params.lookup_keys.clone(),
            interval: recurring
                .and_then(|r| r.interval)
                .map(|i| i.as_str().to_string()),
            usage_type: recurring
                .and_then(|r| r.usage_type)
                .map(|u| u.as_str().to_string()),
            meter: recurring.and_then(|r| r.meter.clone()),
            created: params.created.unwrap_or_default(),
        };
        let listed = self.store().list_prices(&filter, &page).await?;
        let (tiers, options, rest) = includes(expand, true);
        let mut data = listed
            .data
            .iter()
            .map(|row| {
                self.open_doc::<Price>(row)
                    .map(|p| p.to_json_with(tiers, options))
            })
            .collect::<AppResult<Vec<_>>>()?;
        self.expand_items(&mut Reader::Store(self.store()), &mut data, &rest)
            .await?;
        Ok(ListResult {
            data,
            has_more: listed.has_more,
        })
    }
}

//! Coupons, promotion codes and tax rates: create, retrieve, update, list (and delete for
//! coupons). Redemption counts move when subscriptions and invoices apply them.

use cashbox_core::ParamError;
use cashbox_core::billing::discounts::{
    Coupon, CouponCreateParams, CouponListParams, CouponUpdateParams, PROMOTION_CODE_PREFIX,
    PromotionCode, PromotionCodeCreateParams, PromotionCodeListParams, PromotionCodeUpdateParams,
    TAX_RATE_PREFIX, TaxRate, TaxRateCreateParams, TaxRateListParams, TaxRateUpdateParams,
    code_key,
};
use cashbox_core::event::previous_attributes;
use cashbox_core::id::{check_custom_id, new_id, random_token};
use cashbox_store::{DocFilter, DocTable, Tx};
use serde_json::{Value, json};

use crate::docs::{Doc, active_status};
use crate::events::ListResult;
use crate::expand::Reader;
use crate::{App, AppError, AppResult, RequestCtx};

impl Doc for Coupon {
    const TABLE: DocTable = DocTable::Coupons;
    const PREFIX: &'static str = "";
    const NAME: &'static str = "coupon";
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
        "live".into()
    }
    fn valid_id(id: &str) -> bool {
        check_custom_id("id", id).is_ok()
    }
}

impl Doc for PromotionCode {
    const TABLE: DocTable = DocTable::PromotionCodes;
    const PREFIX: &'static str = PROMOTION_CODE_PREFIX;
    const NAME: &'static str = "promotion_code";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        self.customer.as_deref()
    }
    fn status(&self) -> String {
        active_status(self.active)
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.coupon)
    }
}

impl Doc for TaxRate {
    const TABLE: DocTable = DocTable::TaxRates;
    const PREFIX: &'static str = TAX_RATE_PREFIX;
    const NAME: &'static str = "tax_rate";
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
    /// A tax rate has no parent object; the lookup column holds what lists filter on.
    fn parent(&self) -> Option<&str> {
        Some(inclusive_key(self.inclusive))
    }
}

fn inclusive_key(inclusive: bool) -> &'static str {
    if inclusive { "inclusive" } else { "exclusive" }
}

/// `expand[]` entries a coupon includes on request rather than links.
fn coupon_includes(expand: &[Vec<String>]) -> (bool, bool, Vec<Vec<String>>) {
    let mut applies_to = false;
    let mut options = false;
    let mut rest = Vec::new();
    for path in expand {
        match path
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["applies_to"] => applies_to = true,
            ["currency_options"] => options = true,
            _ => rest.push(path.clone()),
        }
    }
    (applies_to, options, rest)
}

/// Stripe's generated coupon ids: eight characters.
fn coupon_id() -> String {
    random_token(8)
}

impl App {
    fn render_coupon(&self, c: &Coupon, expand: &[Vec<String>]) -> (Value, Vec<Vec<String>>) {
        let (applies_to, options, rest) = coupon_includes(expand);
        (c.to_json_with(self.now(), applies_to, options), rest)
    }

    /// Records the code; refused if an active code has it (also when two requests race for
    /// it: the unique index stops the second).
    async fn save_code_key(&self, tx: &mut Tx, promo: &PromotionCode) -> AppResult<()> {
        let saved = match tx
            .save_promotion_code_key(&promo.id, &code_key(&promo.code), promo.active)
            .await
        {
            Err(e) if e.is_unique_violation() => false,
            other => other?,
        };
        if !saved {
            return Err(ParamError::new(
                "code",
                "resource_already_exists",
                format!(
                    "An active promotion code with the code '{}' already exists.",
                    promo.code
                ),
            )
            .into());
        }
        Ok(())
    }
}

crate::service!(Coupons, coupons, "Coupons.");

impl Coupons<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        params: CouponCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        if let Some(id) = &params.id {
            check_custom_id("id", id)?;
        }
        let id = params.id.clone().unwrap_or_else(coupon_id);
        let coupon = Coupon::new(id, self.now(), &params)?;
        let mut tx = self.store().begin().await?;
        if tx.doc(DocTable::Coupons, &coupon.id).await?.is_some() {
            return Err(ParamError::new(
                "id",
                "resource_already_exists",
                format!(
                    "Coupon already exists: a coupon with id '{}' exists.",
                    coupon.id
                ),
            )
            .into());
        }
        if let Some(products) = &coupon.applies_to_products {
            for (i, p) in products.iter().enumerate() {
                let found: Option<cashbox_core::billing::catalog::Product> =
                    self.find_for_update(&mut tx, p).await?;
                if found.is_none() {
                    return Err(AppError::MissingReference {
                        object: "product",
                        id: p.clone(),
                        param: format!("applies_to[products][{i}]"),
                    });
                }
            }
        }
        self.insert_doc(&mut tx, &coupon).await?;
        let (object, rest) = self.render_coupon(&coupon, expand);
        self.record_event(
            &mut tx,
            ctx,
            "coupon.created",
            &coupon.to_json_with(self.now(), false, false),
            None,
        )
        .await?;
        self.finish(tx, ctx, object, &rest).await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        let coupon: Coupon = self.load(id).await?;
        let (mut object, rest) = self.render_coupon(&coupon, expand);
        self.expand(&mut Reader::Store(self.store()), &mut object, &rest)
            .await?;
        Ok(object)
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: CouponUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut coupon: Coupon = self.load_for_update(&mut tx, id).await?;
        let now = self.now();
        let before = coupon.to_json_with(now, false, false);
        coupon.apply(&params)?;
        self.save_doc(&mut tx, &coupon).await?;
        let after = coupon.to_json_with(now, false, false);
        let previous = previous_attributes(&before, &after);
        self.record_event(&mut tx, ctx, "coupon.updated", &after, previous)
            .await?;
        let (object, rest) = self.render_coupon(&coupon, expand);
        self.finish(tx, ctx, object, &rest).await
    }

    /// Deleting a coupon stops new redemptions; discounts already applied keep working.
    pub async fn delete(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let coupon: Coupon = self.load_for_update(&mut tx, id).await?;
        tx.delete_doc(DocTable::Coupons, &coupon.id).await?;
        self.record_event(
            &mut tx,
            ctx,
            "coupon.deleted",
            &coupon.to_json_with(self.now(), false, false),
            None,
        )
        .await?;
        let response = json!({"id": coupon.id, "object": "coupon", "deleted": true});
        self.commit_response(tx, ctx, 200, &response).await?;
        Ok(response)
    }

    pub async fn list(
        &self,
        params: &CouponListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            created: params.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        let now = self.now();
        self.list_docs::<Coupon>(&filter, &params.page()?, expand, |c| {
            c.to_json_with(now, false, false)
        })
        .await
    }
}

crate::service!(
    PromotionCodes,
    promotion_codes,
    "Promotion codes of coupons."
);

impl PromotionCodes<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        params: PromotionCodeCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let code = params
            .code
            .clone()
            .unwrap_or_else(|| random_token(8).to_ascii_uppercase());
        let promo = PromotionCode::new(new_id(PROMOTION_CODE_PREFIX), self.now(), code, &params)?;
        let mut tx = self.store().begin().await?;
        let coupon: Option<Coupon> = self.find_for_update(&mut tx, &promo.coupon).await?;
        if coupon.is_none() {
            let param = if params.coupon.is_some() {
                "coupon"
            } else {
                "promotion[coupon]"
            };
            return Err(AppError::MissingReference {
                object: "coupon",
                id: promo.coupon.clone(),
                param: param.into(),
            });
        }
        if let Some(customer) = &promo.customer {
            self.check_customer(&mut tx, customer, "customer").await?;
        }
        self.insert_doc(&mut tx, &promo).await?;
        self.save_code_key(&mut tx, &promo).await?;
        self.record_event(
            &mut tx,
            ctx,
            "promotion_code.created",
            &promo.to_json(),
            None,
        )
        .await?;
        self.finish(tx, ctx, promo.to_json(), expand).await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        self.retrieve_doc(id, expand, PromotionCode::to_json).await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: PromotionCodeUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut promo: PromotionCode = self.load_for_update(&mut tx, id).await?;
        let before = promo.to_json();
        if let Some(a) = params.active {
            promo.active = a;
        }
        promo.metadata = match &params.metadata {
            Some(m) => m.apply(&promo.metadata)?,
            None => promo.metadata.clone(),
        };
        self.save_code_key(&mut tx, &promo).await?;
        let object = promo.to_json();
        self.finish_update(
            tx,
            ctx,
            &promo,
            (&before, object),
            "promotion_code.updated",
            expand,
        )
        .await
    }

    pub async fn list(
        &self,
        params: &PromotionCodeListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            status: params.active.map(active_status),
            parent: params.coupon.clone(),
            customer: params.customer.clone(),
            code_key: params.code.as_deref().map(code_key),
            created: params.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        self.list_docs::<PromotionCode>(&filter, &params.page()?, expand, PromotionCode::to_json)
            .await
    }
}

crate::service!(TaxRates, tax_rates, "Tax rates.");

impl TaxRates<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        params: TaxRateCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let rate = TaxRate::new(new_id(TAX_RATE_PREFIX), self.now(), &params)?;
        let mut tx = self.store().begin().await?;
        self.insert_doc(&mut tx, &rate).await?;
        self.record_event(&mut tx, ctx, "tax_rate.created", &rate.to_json(), None)
            .await?;
        self.finish(tx, ctx, rate.to_json(), expand).await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        self.retrieve_doc(id, expand, TaxRate::to_json).await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: TaxRateUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut rate: TaxRate = self.load_for_update(&mut tx, id).await?;
        let before = rate.to_json();
        rate.apply(&params)?;
        let object = rate.to_json();
        self.finish_update(
            tx,
            ctx,
            &rate,
            (&before, object),
            "tax_rate.updated",
            expand,
        )
        .await
    }

    pub async fn list(
        &self,
        params: &TaxRateListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            status: params.active.map(active_status),
            parent: params.inclusive.map(|i| inclusive_key(i).to_string()),
            created: params.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        self.list_docs::<TaxRate>(&filter, &params.page()?, expand, TaxRate::to_json)
            .await
    }
}

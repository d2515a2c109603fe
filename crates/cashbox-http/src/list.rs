//! Stripe's list envelope.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ListObject<T> {
    /// Always `list`.
    pub object: &'static str,
    /// The path this list was read from.
    pub url: String,
    pub has_more: bool,
    pub data: Vec<T>,
    /// Only in a list embedded in an object (an invoice's lines, a subscription's items):
    /// how many there are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<i64>,
}

impl<T> ListObject<T> {
    pub fn new(url: &str, data: Vec<T>, has_more: bool) -> Self {
        Self {
            object: "list",
            url: url.to_string(),
            has_more,
            data,
            total_count: None,
        }
    }
}

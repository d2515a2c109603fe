//! `Api<P>`: a handler's typed parameters and the gate's findings.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::gate::ApiCall;
use crate::params;

pub struct Api<P> {
    pub call: ApiCall,
    pub params: P,
}

impl<S: Send + Sync, P: DeserializeOwned> FromRequestParts<S> for Api<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let call = parts.extensions.get::<ApiCall>().cloned().ok_or_else(|| {
            tracing::error!("an API handler ran without the gate");
            ApiError::internal()
        })?;
        let params = params::parse(&call.params)?;
        Ok(Self { call, params })
    }
}

/// For endpoints that take no parameters: anything sent is refused as unknown.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl<P> Api<P> {
    /// How this caller may act on an intent: a secret key may do anything; a publishable key
    /// needs the intent's client secret.
    pub fn client_auth<'a>(&self, client_secret: Option<&'a str>) -> cashbox_app::ClientAuth<'a> {
        match self.call.principal.grants.kind {
            cashbox_core::api_key::KeyKind::Publishable => {
                cashbox_app::ClientAuth::Publishable(client_secret)
            }
            _ => cashbox_app::ClientAuth::Secret,
        }
    }
}

//! Schema-only types for the OpenAPI document: fields whose JSON has more than one shape.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

/// An expandable link: the object's id, or the object itself when `expand[]` names the field.
pub struct Expandable;

impl PartialSchema for Expandable {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Object))
            .description(Some(
                "The object's id, or the object itself when `expand[]` names this field.",
            ))
            .into()
    }
}
impl ToSchema for Expandable {}

/// A JSON object whose keys depend on its context (a webhook event's object, the fields an
/// update changed).
pub struct AnyObject;

impl PartialSchema for AnyObject {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .into()
    }
}
impl ToSchema for AnyObject {}

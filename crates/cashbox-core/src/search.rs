//! Stripe's search query language (`GET /v1/customers/search?query=…`), and what each
//! searchable object puts in the search index.
//!
//! A query is clauses joined by `AND` or by `OR` (not both), at most [`CLAUSES_MAX`]:
//! `email:'jenny@example.com'`, `name~'jen'` (substring), `amount>1000`, `created<=1700000000`,
//! `metadata['order_id']:'6735'`, `-status:'canceled'` (negation), `lookup_key:null`.
//!
//! The index never holds personal data or metadata in the clear. Exact matches are on keyed
//! blind indexes ([`Term`]s: HMAC of the field and the value), so searching for an email
//! compares HMACs and decrypts nothing; numbers are stored as they are; only fields that are
//! neither personal nor metadata (a product's name and description) are stored as text for
//! substring search. A substring of an encrypted field cannot be searched through a blind
//! index, and is refused saying so.

use std::collections::BTreeMap;

use crate::ParamError;

/// Stripe allows at most ten clauses in one query.
pub const CLAUSES_MAX: usize = 10;
/// A query's length, in bytes.
pub const QUERY_MAX: usize = 1_000;
/// Substring search needs at least this many characters, as Stripe's.
pub const SUBSTRING_MIN_CHARS: usize = 3;
/// A text value stored for substring search is cut to this many characters.
pub const TEXT_MAX_CHARS: usize = 500;

/// How a field is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exact match on a blind index (`status`, `currency`, an id, a boolean).
    Token,
    /// Personal data, encrypted at rest: exact match on a blind index only.
    Personal,
    /// Exact match and, stored as text, substring (`~`).
    Text,
    /// Compared as an integer (`amount`, `total`).
    Number,
    /// The object's creation time: compared from the table's own column.
    Created,
    /// Exact match on one of the table's plain columns (`status`, `customer`, `parent`),
    /// kept with every write: a change of status needs no new index rows.
    Column(&'static str),
}

/// The searchable fields of one resource, as Stripe's reference lists them.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The object name, which also keys its blind indexes apart from other resources'.
    pub object: &'static str,
    pub fields: &'static [(&'static str, Kind)],
}

use Kind::*;

pub const CUSTOMERS: Schema = Schema {
    object: "customer",
    fields: &[
        ("created", Created),
        ("email", Personal),
        ("name", Personal),
        ("phone", Personal),
    ],
};
pub const PRICES: Schema = Schema {
    object: "price",
    fields: &[
        ("active", Token),
        ("created", Created),
        ("currency", Token),
        ("lookup_key", Token),
        ("product", Token),
        ("type", Token),
    ],
};
pub const PRODUCTS: Schema = Schema {
    object: "product",
    fields: &[
        ("active", Token),
        ("created", Created),
        ("description", Text),
        ("name", Text),
        ("shippable", Token),
        ("url", Token),
    ],
};
pub const SUBSCRIPTIONS: Schema = Schema {
    object: "subscription",
    fields: &[("created", Created), ("status", Column("status"))],
};
pub const INVOICES: Schema = Schema {
    object: "invoice",
    fields: &[
        ("created", Created),
        ("currency", Token),
        ("customer", Column("customer")),
        ("number", Token),
        ("receipt_number", Token),
        ("status", Column("status")),
        ("subscription", Column("parent")),
        ("total", Number),
    ],
};
pub const PAYMENT_INTENTS: Schema = Schema {
    object: "payment_intent",
    fields: &[
        ("amount", Number),
        ("created", Created),
        ("currency", Token),
        ("customer", Column("customer")),
        ("status", Column("status")),
    ],
};
pub const CHARGES: Schema = Schema {
    object: "charge",
    fields: &[
        ("amount", Number),
        ("billing_details.address.postal_code", Token),
        ("created", Created),
        ("currency", Token),
        ("customer", Column("customer")),
        ("disputed", Token),
        ("payment_intent", Column("parent")),
        ("payment_method_details.card.brand", Token),
        ("payment_method_details.card.exp_month", Number),
        ("payment_method_details.card.exp_year", Number),
        ("payment_method_details.card.last4", Token),
        ("refunded", Token),
        ("status", Column("status")),
    ],
};

impl Schema {
    fn kind(&self, field: &str) -> Option<Kind> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, k)| *k)
    }

    /// The blind index domain of a field's values (`metadata` for metadata pairs).
    pub fn domain(&self, field: &str) -> String {
        format!("search:{}:{field}", self.object)
    }
}

/// What stands for "no value" in a field's blind index (`field:null`).
const NULL_VALUE: &str = "\u{0}null";

/// A field's value as the index keys it: emails compare without case, as Stripe's do.
fn normalized(field: &str, value: &str) -> String {
    if field == "email" {
        value.to_lowercase()
    } else {
        value.to_string()
    }
}

/// What a blind index is computed over: the domain and the value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Term {
    pub domain: String,
    pub value: String,
}

/// What one object puts in the search index. Built by each searchable type from itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub terms: Vec<Term>,
    /// (field, value) for [`Kind::Number`] fields.
    pub numbers: Vec<(&'static str, i64)>,
    /// (field, lower-cased value) for [`Kind::Text`] fields: substring search.
    pub texts: Vec<(&'static str, String)>,
    /// (column, value) of [`Kind::Column`] fields: not written to the index (the table has
    /// them), kept for [`Plan::matches`].
    pub columns: Vec<(&'static str, Option<String>)>,
}

impl Entry {
    /// What the index holds of the object, as one text in a fixed order, each part prefixed
    /// with its length: equal texts, equal index rows. Its keyed digest is kept with the row,
    /// so a write that changes none of it needs no indexing.
    pub fn indexed_text(&self) -> String {
        let mut out = String::new();
        let mut put = |s: &str| {
            out.push_str(&s.len().to_string());
            out.push(':');
            out.push_str(s);
        };
        for t in &self.terms {
            put(&t.domain);
            put(&t.value);
        }
        for (f, n) in &self.numbers {
            put(f);
            put(&n.to_string());
        }
        for (f, t) in &self.texts {
            put(f);
            put(t);
        }
        out
    }
}

/// Builds an [`Entry`] field by field, checked against the resource's [`Schema`].
pub struct EntryBuilder {
    schema: Schema,
    entry: Entry,
    /// The fields given so far: [`EntryBuilder::build`] checks none was left out.
    given: Vec<&'static str>,
}

impl EntryBuilder {
    pub fn new(schema: Schema) -> Self {
        Self {
            schema,
            entry: Entry::default(),
            given: Vec::new(),
        }
    }

    /// A token, personal or text field's value (`None`: null).
    pub fn value(mut self, field: &'static str, value: Option<&str>) -> Self {
        let kind = self.schema.kind(field);
        debug_assert!(
            matches!(kind, Some(Token | Personal | Text)),
            "{field} is not a value field of {}",
            self.schema.object
        );
        self.given.push(field);
        self.entry.terms.push(Term {
            domain: self.schema.domain(field),
            value: value.map_or(NULL_VALUE.to_string(), |v| normalized(field, v)),
        });
        if kind == Some(Text)
            && let Some(v) = value
        {
            let lower: String = v.to_lowercase().chars().take(TEXT_MAX_CHARS).collect();
            self.entry.texts.push((field, lower));
        }
        self
    }

    /// A field answered from the table's plain column (the store writes it with the row).
    pub fn column(mut self, field: &'static str, value: Option<&str>) -> Self {
        let Some(Column(column)) = self.schema.kind(field) else {
            panic!("{field} is not a column field of {}", self.schema.object);
        };
        self.given.push(field);
        self.entry.columns.push((column, value.map(str::to_string)));
        self
    }

    pub fn flag(self, field: &'static str, value: bool) -> Self {
        self.value(field, Some(if value { "true" } else { "false" }))
    }

    pub fn number(mut self, field: &'static str, value: i64) -> Self {
        debug_assert_eq!(self.schema.kind(field), Some(Number), "{field}");
        self.given.push(field);
        self.entry.numbers.push((field, value));
        self
    }

    /// Every metadata pair, and each key's presence (for `metadata['key']:null`).
    pub fn metadata(mut self, metadata: &BTreeMap<String, String>) -> Self {
        for (k, v) in metadata {
            self.entry
                .terms
                .push(metadata_term(self.schema, k, Some(v)));
            self.entry.terms.push(metadata_term(self.schema, k, None));
        }
        self
    }

    /// The entry; every field of the schema (but `created`, a column of its own) must have
    /// been given, or a search on it would find nothing.
    pub fn build(self) -> Entry {
        for (field, kind) in self.schema.fields {
            debug_assert!(
                *kind == Created || self.given.contains(field),
                "{}'s search entry leaves out {field}",
                self.schema.object
            );
        }
        self.entry
    }
}

/// The term of a metadata pair, or (`None`) of its key's presence.
fn metadata_term(schema: Schema, key: &str, value: Option<&str>) -> Term {
    match value {
        Some(v) => Term {
            domain: schema.domain("metadata"),
            value: format!("{key}\u{0}{v}"),
        },
        None => Term {
            domain: schema.domain("metadata-key"),
            value: key.to_string(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// What each searchable object indexes: every field of its schema, each time it is saved.

/// A searchable object: the resource it is searched as, and its index entry.
pub trait Searchable {
    const SCHEMA: Schema;
    fn search_entry(&self) -> Entry;
}

impl Searchable for crate::customer::Customer {
    const SCHEMA: Schema = CUSTOMERS;
    fn search_entry(&self) -> Entry {
        self.private.search_entry()
    }
}

impl Searchable for crate::customer::CustomerPrivate {
    const SCHEMA: Schema = CUSTOMERS;
    fn search_entry(&self) -> Entry {
        let p = self;
        EntryBuilder::new(CUSTOMERS)
            .value("email", p.email.as_deref())
            .value("name", p.name.as_deref())
            .value("phone", p.phone.as_deref())
            .metadata(&p.metadata)
            .build()
    }
}

impl Searchable for crate::billing::catalog::Price {
    const SCHEMA: Schema = PRICES;
    fn search_entry(&self) -> Entry {
        let kind = if self.recurring.is_some() {
            "recurring"
        } else {
            "one_time"
        };
        EntryBuilder::new(PRICES)
            .flag("active", self.active)
            .value("currency", Some(self.currency.as_str()))
            .value("lookup_key", self.lookup_key.as_deref())
            .value("product", Some(&self.product))
            .value("type", Some(kind))
            .metadata(&self.metadata)
            .build()
    }
}

impl Searchable for crate::billing::catalog::Product {
    const SCHEMA: Schema = PRODUCTS;
    fn search_entry(&self) -> Entry {
        EntryBuilder::new(PRODUCTS)
            .flag("active", self.active)
            .value("description", self.description.as_deref())
            .value("name", Some(&self.name))
            .value(
                "shippable",
                self.shippable.map(|s| if s { "true" } else { "false" }),
            )
            .value("url", self.url.as_deref())
            .metadata(&self.metadata)
            .build()
    }
}

impl Searchable for crate::billing::subscription::Subscription {
    const SCHEMA: Schema = SUBSCRIPTIONS;
    fn search_entry(&self) -> Entry {
        EntryBuilder::new(SUBSCRIPTIONS)
            .column("status", Some(self.status.as_str()))
            .metadata(&self.metadata)
            .build()
    }
}

impl Searchable for crate::billing::invoice::Invoice {
    const SCHEMA: Schema = INVOICES;
    fn search_entry(&self) -> Entry {
        EntryBuilder::new(INVOICES)
            .value("currency", Some(self.currency.as_str()))
            .column("customer", Some(&self.customer))
            .value("number", self.number.as_deref())
            .value("receipt_number", None)
            .column("status", Some(self.status.as_str()))
            .column("subscription", self.subscription.as_deref())
            .number("total", self.total)
            .metadata(&self.metadata)
            .build()
    }
}

impl Searchable for crate::payments::PaymentIntent {
    const SCHEMA: Schema = PAYMENT_INTENTS;
    fn search_entry(&self) -> Entry {
        EntryBuilder::new(PAYMENT_INTENTS)
            .number("amount", self.amount)
            .value("currency", Some(self.currency.as_str()))
            .column("customer", self.customer.as_deref())
            .column("status", Some(self.status.as_str()))
            .metadata(&self.metadata)
            .build()
    }
}

impl Searchable for crate::payments::Charge {
    const SCHEMA: Schema = CHARGES;
    fn search_entry(&self) -> Entry {
        let postal = self
            .billing_details
            .address
            .as_ref()
            .and_then(|a| a.postal_code.as_deref());
        EntryBuilder::new(CHARGES)
            .number("amount", self.amount)
            .value("billing_details.address.postal_code", postal)
            .value("currency", Some(self.currency.as_str()))
            .column("customer", self.customer.as_deref())
            .flag("disputed", false)
            .column("payment_intent", Some(&self.payment_intent))
            .value("payment_method_details.card.brand", Some(&self.card.brand))
            .number(
                "payment_method_details.card.exp_month",
                i64::from(self.card.exp_month),
            )
            .number(
                "payment_method_details.card.exp_year",
                i64::from(self.card.exp_year),
            )
            .value("payment_method_details.card.last4", Some(&self.card.last4))
            .flag("refunded", self.refunded())
            .column("status", Some(self.status.as_str()))
            .metadata(&self.metadata)
            .build()
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Substring,
    Gt,
    Ge,
    Lt,
    Le,
}

/// How a number or a time is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn cmp(self) -> Option<Cmp> {
        Some(match self {
            Op::Eq => Cmp::Eq,
            Op::Gt => Cmp::Gt,
            Op::Ge => Cmp::Ge,
            Op::Lt => Cmp::Lt,
            Op::Le => Cmp::Le,
            Op::Substring => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Num(i64),
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Named(String),
    Metadata(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub negated: bool,
    pub field: Field,
    pub op: Op,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub join: Join,
    pub clauses: Vec<Clause>,
}

fn syntax(message: impl Into<String>) -> ParamError {
    ParamError::invalid("query", message)
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn skip_spaces(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn quoted(&mut self) -> Result<String, ParamError> {
        let quote = self.rest().chars().next().unwrap_or('\'');
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, escaped)) => out.push(escaped),
                    None => break,
                },
                c if c == quote => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err(syntax(format!(
            "Unterminated string in the search query at position {}.",
            self.pos
        )))
    }

    fn field(&mut self) -> Result<Field, ParamError> {
        if self.eat("metadata[") {
            if !matches!(self.rest().chars().next(), Some('\'' | '"')) {
                return Err(syntax("A metadata key is quoted: metadata['key']."));
            }
            let key = self.quoted()?;
            if !self.eat("]") {
                return Err(syntax("Expected ] after the metadata key."));
            }
            return Ok(Field::Metadata(key));
        }
        let name: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        if name.is_empty() {
            return Err(syntax(format!(
                "Expected a field name at position {} of the search query.",
                self.pos
            )));
        }
        self.pos += name.len();
        Ok(Field::Named(name))
    }

    fn op(&mut self) -> Result<Op, ParamError> {
        for (token, op) in [
            (">=", Op::Ge),
            ("<=", Op::Le),
            (":", Op::Eq),
            ("~", Op::Substring),
            (">", Op::Gt),
            ("<", Op::Lt),
        ] {
            if self.eat(token) {
                return Ok(op);
            }
        }
        Err(syntax(format!(
            "Expected one of : ~ > < >= <= at position {} of the search query.",
            self.pos
        )))
    }

    fn value(&mut self) -> Result<Value, ParamError> {
        if matches!(self.rest().chars().next(), Some('\'' | '"')) {
            return Ok(Value::Str(self.quoted()?));
        }
        let word: String = self
            .rest()
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        self.pos += word.len();
        if word == "null" {
            return Ok(Value::Null);
        }
        word.parse::<i64>().map(Value::Num).map_err(|_| {
            syntax(format!(
                "Invalid value {word:?} in the search query: quote strings ('value'); numbers and null are bare."
            ))
        })
    }
}

/// Parses a query. Only its form is checked here; [`plan`] checks it against a resource.
pub fn parse(query: &str) -> Result<Query, ParamError> {
    if query.trim().is_empty() {
        return Err(ParamError::missing("query"));
    }
    if query.len() > QUERY_MAX {
        return Err(syntax(format!(
            "The search query is longer than {QUERY_MAX} characters."
        )));
    }
    let mut lx = Lexer { s: query, pos: 0 };
    let mut clauses = Vec::new();
    let mut join: Option<Join> = None;
    loop {
        lx.skip_spaces();
        let negated = lx.eat("-");
        let field = lx.field()?;
        let op = lx.op()?;
        let value = lx.value()?;
        clauses.push(Clause {
            negated,
            field,
            op,
            value,
        });
        if clauses.len() > CLAUSES_MAX {
            return Err(syntax(format!(
                "A search query has at most {CLAUSES_MAX} clauses."
            )));
        }
        lx.skip_spaces();
        if lx.rest().is_empty() {
            break;
        }
        let next = if lx.eat("AND ") {
            Join::And
        } else if lx.eat("OR ") {
            Join::Or
        } else {
            return Err(syntax(format!(
                "Expected AND or OR at position {} of the search query.",
                lx.pos
            )));
        };
        if join.is_some_and(|j| j != next) {
            return Err(syntax(
                "A search query cannot combine AND and OR: use one or the other.",
            ));
        }
        join = Some(next);
    }
    Ok(Query {
        join: join.unwrap_or(Join::And),
        clauses,
    })
}

// ---------------------------------------------------------------------------------------------
// Planning

/// One clause, ready for the store to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The object has this term (under any of the key ring's blind indexes).
    HasTerm(Term),
    /// Compares a number field.
    Number {
        field: &'static str,
        cmp: Cmp,
        value: i64,
    },
    /// Compares the creation time.
    Created { cmp: Cmp, value: i64 },
    /// A text field contains this lower-cased string.
    Contains { field: &'static str, needle: String },
    /// One of the table's plain columns is this value (`None`: null).
    Column {
        column: &'static str,
        value: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedClause {
    pub negated: bool,
    pub condition: Condition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub join: Join,
    pub clauses: Vec<PlannedClause>,
}

fn unsupported(schema: &Schema, field: &str) -> ParamError {
    let known: Vec<&str> = schema.fields.iter().map(|(f, _)| *f).collect();
    syntax(format!(
        "Field '{field}' is not supported for search on {}s. Supported fields: {}, metadata['key'].",
        schema.object,
        known.join(", ")
    ))
}

fn static_name(schema: &Schema, field: &str) -> &'static str {
    schema
        .fields
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(f, _)| *f)
        .unwrap_or("")
}

/// Checks `query` against `schema` and turns each clause into a [`Condition`].
pub fn plan(query: &Query, schema: &Schema) -> Result<Plan, ParamError> {
    let clauses = query
        .clauses
        .iter()
        .map(|c| plan_clause(c, schema))
        .collect::<Result<_, _>>()?;
    Ok(Plan {
        join: query.join,
        clauses,
    })
}

fn plan_clause(c: &Clause, schema: &Schema) -> Result<PlannedClause, ParamError> {
    let condition = match &c.field {
        Field::Metadata(key) => {
            if c.op != Op::Eq {
                return Err(syntax(
                    "metadata is matched exactly: metadata['key']:'value'.",
                ));
            }
            match &c.value {
                Value::Null => {
                    // No such key: the negation of the key's presence.
                    return Ok(PlannedClause {
                        negated: !c.negated,
                        condition: Condition::HasTerm(metadata_term(*schema, key, None)),
                    });
                }
                Value::Str(v) => Condition::HasTerm(metadata_term(*schema, key, Some(v))),
                Value::Num(n) => {
                    Condition::HasTerm(metadata_term(*schema, key, Some(&n.to_string())))
                }
            }
        }
        Field::Named(name) => {
            let kind = schema.kind(name).ok_or_else(|| unsupported(schema, name))?;
            let field = static_name(schema, name);
            match (kind, c.op.cmp(), &c.value) {
                (Created, Some(cmp), Value::Num(n)) => Condition::Created { cmp, value: *n },
                (Number, Some(cmp), Value::Num(n)) => Condition::Number {
                    field,
                    cmp,
                    value: *n,
                },
                (Created | Number, _, _) => {
                    return Err(syntax(format!(
                        "'{name}' is a number: compare it with : > < >= <= and a bare integer."
                    )));
                }
                (Personal, None, _) => {
                    return Err(syntax(format!(
                        "'{name}' is personal data, encrypted at rest and searchable only through a blind index of its whole value: search for an exact match ({name}:'…'), not a substring."
                    )));
                }
                (Text, None, Value::Str(s)) => {
                    if s.chars().count() < SUBSTRING_MIN_CHARS {
                        return Err(syntax(format!(
                            "A substring search needs at least {SUBSTRING_MIN_CHARS} characters."
                        )));
                    }
                    Condition::Contains {
                        field,
                        needle: s.to_lowercase(),
                    }
                }
                (Column(column), Some(Cmp::Eq), value) => Condition::Column {
                    column,
                    value: match value {
                        Value::Str(s) => Some(s.clone()),
                        Value::Num(n) => Some(n.to_string()),
                        Value::Null => None,
                    },
                },
                (Column(_), _, _) => {
                    return Err(syntax(format!("'{name}' is matched with : (exact).")));
                }
                (Token | Personal | Text, Some(Cmp::Eq), value) => {
                    let value = match value {
                        Value::Str(s) => normalized(name, s),
                        Value::Num(n) => n.to_string(),
                        Value::Null => NULL_VALUE.to_string(),
                    };
                    Condition::HasTerm(Term {
                        domain: schema.domain(name),
                        value,
                    })
                }
                (Token | Personal | Text, _, _) => {
                    return Err(syntax(format!(
                        "'{name}' is matched with : (exact){}.",
                        if kind == Text {
                            " or ~ (substring)"
                        } else {
                            ""
                        }
                    )));
                }
            }
        }
    };
    Ok(PlannedClause {
        negated: c.negated,
        condition,
    })
}

fn compare(value: i64, cmp: Cmp, bound: i64) -> bool {
    match cmp {
        Cmp::Eq => value == bound,
        Cmp::Gt => value > bound,
        Cmp::Ge => value >= bound,
        Cmp::Lt => value < bound,
        Cmp::Le => value <= bound,
    }
}

impl Plan {
    /// Whether an object with this index `entry`, created at `created`, matches: what the
    /// store's query answers, computed here for one object (tests compare the two).
    pub fn matches(&self, entry: &Entry, created: i64) -> bool {
        let mut each = self.clauses.iter().map(|c| {
            let holds = match &c.condition {
                Condition::HasTerm(t) => entry.terms.contains(t),
                Condition::Number { field, cmp, value } => entry
                    .numbers
                    .iter()
                    .any(|(f, n)| f == field && compare(*n, *cmp, *value)),
                Condition::Created { cmp, value } => compare(created, *cmp, *value),
                Condition::Contains { field, needle } => entry
                    .texts
                    .iter()
                    .any(|(f, t)| f == field && t.contains(needle.as_str())),
                Condition::Column { column, value } => {
                    entry.columns.iter().any(|(c, v)| c == column && v == value)
                }
            };
            holds != c.negated
        });
        match self.join {
            Join::And => each.all(|b| b),
            Join::Or => each.any(|b| b),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pages

/// Results per page unless `limit` says otherwise, and the most it may say.
pub const LIMIT_DEFAULT: u32 = 10;
pub const LIMIT_MAX: u32 = 100;

/// `GET /v1/{resource}/search`'s parameters.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    pub query: Option<String>,
    pub limit: Option<i64>,
    pub page: Option<String>,
}

impl SearchParams {
    /// The query planned for `schema`, the page size and where the page starts.
    pub fn check(&self, schema: &Schema) -> Result<(Plan, u32, Option<PageToken>), ParamError> {
        let query = self
            .query
            .as_deref()
            .ok_or_else(|| ParamError::missing("query"))?;
        let plan = plan(&parse(query)?, schema)?;
        let limit = match self.limit {
            None => LIMIT_DEFAULT,
            Some(n) if (1..=i64::from(LIMIT_MAX)).contains(&n) => n as u32,
            Some(_) => {
                return Err(ParamError::new(
                    "limit",
                    "parameter_invalid_integer",
                    format!("Invalid limit: must be between 1 and {LIMIT_MAX}"),
                ));
            }
        };
        let page = self.page.as_deref().map(PageToken::decode).transpose()?;
        Ok((plan, limit, page))
    }
}

/// Where a page of results starts: after this (created, id), in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub created: i64,
    pub id: String,
}

impl PageToken {
    /// The opaque `next_page` value.
    pub fn encode(&self) -> String {
        let raw = format!("{}:{}", self.created, self.id);
        raw.bytes().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(s: &str) -> Result<PageToken, ParamError> {
        let bad = || {
            ParamError::invalid(
                "page",
                "Invalid page: use a next_page value from a search result.",
            )
        };
        if !s.len().is_multiple_of(2) || s.len() > 600 {
            return Err(bad());
        }
        let bytes = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
            .collect::<Result<Vec<u8>, _>>()?;
        let raw = String::from_utf8(bytes).map_err(|_| bad())?;
        let (created, id) = raw.split_once(':').ok_or_else(bad)?;
        Ok(PageToken {
            created: created.parse().map_err(|_| bad())?,
            id: id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(negated: bool, field: &str, op: Op, value: Value) -> Clause {
        Clause {
            negated,
            field: Field::Named(field.into()),
            op,
            value,
        }
    }

    #[test]
    fn stripes_examples_parse() {
        let q = parse("email:'jenny@example.com' AND metadata['plan']:\"pro\"").unwrap();
        assert_eq!(q.join, Join::And);
        assert_eq!(
            q.clauses[0],
            clause(
                false,
                "email",
                Op::Eq,
                Value::Str("jenny@example.com".into())
            )
        );
        assert_eq!(q.clauses[1].field, Field::Metadata("plan".into()));
        let q = parse("amount>=1000 OR -status:'canceled' OR lookup_key:null").unwrap();
        assert_eq!(q.join, Join::Or);
        assert_eq!(
            q.clauses[0],
            clause(false, "amount", Op::Ge, Value::Num(1000))
        );
        assert_eq!(
            q.clauses[1],
            clause(true, "status", Op::Eq, Value::Str("canceled".into()))
        );
        assert_eq!(q.clauses[2].value, Value::Null);
        let q = parse(r"name~'o\'brien'").unwrap();
        assert_eq!(q.clauses[0].value, Value::Str("o'brien".into()));
    }

    #[test]
    fn malformed_queries_are_refused_with_the_reason() {
        for (q, says) in [
            ("", "Missing required param"),
            (
                "email:'a' AND name:'b' OR phone:'c'",
                "cannot combine AND and OR",
            ),
            ("email:'unterminated", "Unterminated"),
            ("email 'x'", "Expected one of"),
            ("email:jenny", "quote strings"),
            ("email:'a' and name:'b'", "Expected AND or OR"),
            ("metadata[plan]:'x'", "metadata key is quoted"),
        ] {
            let e = parse(q).unwrap_err();
            assert!(e.message.contains(says), "{q}: {}", e.message);
            assert_eq!(e.param, "query");
        }
        let eleven = ["status:'active'"; 11].join(" AND ");
        assert!(parse(&eleven).unwrap_err().message.contains("at most 10"));
        assert!(parse(&["status:'active'"; 10].join(" AND ")).is_ok());
    }

    #[test]
    fn plans_check_fields_and_operators_per_resource() {
        let p = |q: &str, s: &Schema| plan(&parse(q).unwrap(), s);
        let e = p("email~'jen'", &CUSTOMERS).unwrap_err();
        assert!(e.message.contains("blind index"), "{}", e.message);
        assert!(p("email:'Jen@Example.com'", &CUSTOMERS).is_ok());
        assert!(p("name~'pro'", &PRODUCTS).is_ok());
        assert!(
            p("name~'pr'", &PRODUCTS)
                .unwrap_err()
                .message
                .contains("at least 3")
        );
        assert!(
            p("status:'active'", &CUSTOMERS)
                .unwrap_err()
                .message
                .contains("Supported fields")
        );
        assert!(
            p("amount:'ten'", &PAYMENT_INTENTS)
                .unwrap_err()
                .message
                .contains("number")
        );
        assert!(p("status>3", &SUBSCRIPTIONS).is_err());
        // `metadata['k']:null` is the negation of the key's presence.
        let planned = p("metadata['k']:null", &PRICES).unwrap();
        assert!(planned.clauses[0].negated);
    }

    #[test]
    fn a_query_matches_the_objects_whose_entry_it_describes() {
        let mut md = BTreeMap::new();
        md.insert("plan".to_string(), "pro".to_string());
        let entry = EntryBuilder::new(CUSTOMERS)
            .value("email", Some("Jenny@Example.com"))
            .value("name", None)
            .value("phone", Some("+15555550100"))
            .metadata(&md)
            .build();
        let matches = |q: &str| {
            plan(&parse(q).unwrap(), &CUSTOMERS)
                .unwrap()
                .matches(&entry, 100)
        };
        for (q, expected) in [
            ("email:'jenny@example.com'", true),
            ("email:'JENNY@example.com'", true),
            ("email:'jen@example.com'", false),
            ("name:null", true),
            ("-name:null", false),
            ("phone:null", false),
            ("metadata['plan']:'pro'", true),
            ("metadata['plan']:'basic'", false),
            ("metadata['plan']:null", false),
            ("metadata['other']:null", true),
            ("-metadata['other']:null", false),
            ("created>99 AND created<=100", true),
            ("created>100 OR email:'x'", false),
            ("created>100 OR email:'jenny@example.com'", true),
        ] {
            assert_eq!(matches(q), expected, "{q}");
        }
        let product = EntryBuilder::new(PRODUCTS)
            .flag("active", true)
            .value("name", Some("Therapy Plan"))
            .value("description", None)
            .value("shippable", None)
            .value("url", None)
            .build();
        let found = |q: &str| {
            plan(&parse(q).unwrap(), &PRODUCTS)
                .unwrap()
                .matches(&product, 0)
        };
        assert!(found("name~'rapy'"));
        assert!(found("name~'PLAN'"));
        assert!(!found("description~'plan'"));
        assert!(found("name:'Therapy Plan'"));
        assert!(!found("name:'therapy plan'"));
        let pi = EntryBuilder::new(PAYMENT_INTENTS)
            .number("amount", 2_000)
            .value("currency", Some("usd"))
            .column("customer", None)
            .column("status", Some("succeeded"))
            .build();
        let pays = |q: &str| {
            plan(&parse(q).unwrap(), &PAYMENT_INTENTS)
                .unwrap()
                .matches(&pi, 0)
        };
        assert!(pays("amount>1999") && pays("amount:2000") && pays("amount<=2000"));
        assert!(!pays("amount>2000") && !pays("-amount:2000"));
        assert!(pays("status:'succeeded' AND customer:null"));
        assert!(!pays("status:'canceled'") && pays("-status:'canceled'"));
    }

    #[test]
    #[should_panic(expected = "leaves out phone")]
    fn an_entry_that_leaves_out_a_field_is_caught() {
        EntryBuilder::new(CUSTOMERS)
            .value("email", None)
            .value("name", None)
            .build();
    }

    #[test]
    fn page_tokens_round_trip_and_garbage_is_refused() {
        let t = PageToken {
            created: 1_700_000_000,
            id: "cus_abc".into(),
        };
        assert_eq!(PageToken::decode(&t.encode()).unwrap(), t);
        for bad in ["xyz", "0g", "616263", ""] {
            assert!(PageToken::decode(bad).is_err(), "{bad}");
        }
    }
}

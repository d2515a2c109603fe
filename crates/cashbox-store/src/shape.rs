//! What buffered and deferred transactions ask of a statement's text, found once per text.
//!
//! Before each statement, a buffered or deferred transaction asks which table it writes, which
//! tables it names, whether it may be held and joined, and which one row it updates; its kept
//! reads are asked the same of each write. The answers depend on the text alone, and the texts
//! are few (the store's own), so each thread keeps a [`Shape`] per text: found afresh for each
//! statement, the words and forms cost a renewal on PostgreSQL ~10% of the process's CPU.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::sync::Arc;

use crate::buffered::{cacheable, holdable, insert_form, update_form};
use crate::db::{Val, is_read};
use crate::deferred::{by_id_of, changes_named, written_table};
use crate::side_effects;

/// How a held write joins a later one of the same text, as another row of one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Join {
    /// `INSERT INTO t (…) VALUES (…)`: one more row of values.
    Insert,
    /// `UPDATE t SET c = $i, … WHERE k = $key`: one more row of a `VALUES` list, unless the
    /// held writes update that row already (`key`: its argument, from 0).
    Update { key: usize },
}

#[derive(Debug)]
pub(crate) struct Shape {
    /// A `SELECT`.
    pub(crate) read: bool,
    /// Its whole words (runs of ASCII letters, digits and `_`), sorted: the tables it may
    /// name, to ask of many writes without searching the text again for each.
    words: Box<[Box<str>]>,
    /// The table it writes ([`written_table`]).
    pub(crate) table: Option<Box<str>>,
    /// A write a buffered transaction may hold ([`holdable`]).
    pub(crate) holdable: bool,
    /// A read whose rows a buffered transaction may keep ([`cacheable`]).
    pub(crate) cacheable: bool,
    pub(crate) join: Option<Join>,
    /// The argument (from 0) naming the one row it updates, if it updates one row by id and
    /// no trigger writes elsewhere for it.
    one_row: Option<usize>,
    /// The table whose rows it reads by their id alone ([`by_id_of`]).
    pub(crate) by_id_of: Option<Box<str>>,
    /// A bit for each of its words ([`Bits`]).
    word_bits: Bits,
    /// A bit for its table and each table a trigger writes for it; `None` if it writes no
    /// table plain to see.
    write_bits: Option<Bits>,
}

/// 256 bits, the one of each word's hash set: a statement whose bits and a write's have
/// none in common does not name the write's tables, found without searching its words.
/// (Each write asks it of every kept read: ~500 times a renewal on SQLite.)
type Bits = [u64; 4];

fn bits_of<'a>(words: impl IntoIterator<Item = &'a str>) -> Bits {
    let hasher = foldhash::fast::FixedState::default();
    let mut bits = [0; 4];
    for word in words {
        let i = (hasher.hash_one(word) % 256) as usize;
        bits[i / 64] |= 1 << (i % 64);
    }
    bits
}

/// A map hashed with foldhash instead of SipHash: the transactions' maps are keyed by
/// statement texts of hundreds of bytes, hashed for every statement (SipHash took ~2% of a
/// renewal's instructions on PostgreSQL). Seeded per process, and each map is bounded.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Texts each thread keeps at most: a text made per call (an `IN` list of as many
/// placeholders as keys) should not grow the map without bound.
const KEPT_MAX: usize = 4_096;

/// A thread's shapes, and the generation of the side effects they were found with.
#[derive(Default)]
struct Shapes {
    generation: u64,
    by_text: FastMap<Box<str>, Arc<Shape>>,
}

thread_local! {
    static SHAPES: RefCell<Shapes> = RefCell::new(Shapes::default());
}

impl Shape {
    /// The shape of `sql`, found once per thread (and again once the side effects known
    /// change).
    pub(crate) fn of(sql: &str) -> Arc<Self> {
        SHAPES.with(|shapes| {
            let generation = side_effects::generation();
            if let Some(shape) = shapes.borrow().by_text.get(sql)
                && shapes.borrow().generation == generation
            {
                return shape.clone();
            }
            let shape = Arc::new(Self::find(sql));
            let mut shapes = shapes.borrow_mut();
            if shapes.generation != generation {
                shapes.by_text.clear();
                shapes.generation = generation;
            }
            let shapes = &mut shapes.by_text;
            if shapes.len() >= KEPT_MAX {
                shapes.clear();
            }
            shapes.insert(sql.into(), shape.clone());
            shape
        })
    }

    fn find(sql: &str) -> Self {
        let update = update_form(sql);
        let join = if insert_form(sql).is_some() {
            Some(Join::Insert)
        } else {
            update.as_ref().map(|u| Join::Update { key: u.key - 1 })
        };
        let table = written_table(sql);
        // The tables a trigger or a cascade writes when this statement writes its table, as
        // the database's catalog says (`side_effects`).
        let triggered: Vec<Box<str>> = table.map(side_effects::also_written).unwrap_or_default();
        let one_row = update
            .filter(|u| u.key_column == "id" && table.is_some() && triggered.is_empty())
            .map(|u| u.key - 1);
        let write_bits =
            table.map(|t| bits_of(std::iter::once(t).chain(triggered.iter().map(|t| &**t))));
        let words = words_of(sql);
        let by_id_of = sql
            .split_once(" FROM ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .filter(|t| by_id_of(sql, t))
            .map(Box::from);

        Self {
            read: is_read(sql),
            word_bits: bits_of(words.iter().map(|w| &**w)),
            words,
            table: table.map(Box::from),
            holdable: holdable(sql),
            cacheable: cacheable(sql),
            join,
            one_row,
            by_id_of,
            write_bits,
        }
    }

    /// Whether `table` is one of its words: `names_table` without the search.
    pub(crate) fn names(&self, table: &str) -> bool {
        self.words.binary_search_by(|w| (**w).cmp(table)).is_ok()
    }

    /// Whether a write to `table` may change what this statement reads: it writes (itself or
    /// by a trigger) a table the statement names, or its table is not plain to see.
    pub(crate) fn changed_by(&self, table: Option<&str>) -> bool {
        changes_named(table, |t| self.names(t))
    }

    /// [`Shape::changed_by`] the table `write` writes, most often answered by the bits.
    pub(crate) fn changed_by_write(&self, write: &Shape) -> bool {
        match &write.write_bits {
            Some(bits) if self.word_bits.iter().zip(bits).all(|(a, b)| a & b == 0) => false,
            _ => self.changed_by(write.table.as_deref()),
        }
    }

    /// The id of the one row it updates, with `args`.
    pub(crate) fn one_row<'a>(&self, args: &'a [Val]) -> Option<&'a Val> {
        self.one_row.and_then(|i| args.get(i))
    }
}

fn words_of(sql: &str) -> Box<[Box<str>]> {
    let mut words: Vec<&str> = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    words.sort_unstable();
    words.dedup();
    words.into_iter().map(Box::from).collect()
}

#[cfg(test)]
mod tests {
    use super::{Join, Shape};
    use crate::db::Val;
    use crate::deferred::{names_table, written_table};

    #[test]
    fn a_shape_says_what_the_text_says_and_is_found_once() {
        let sql = "UPDATE invoices SET sealed = $2, status = $3 WHERE id = $1";
        let generation = crate::side_effects::generation();
        let shape = Shape::of(sql);
        // Found again only if another test taught the process a side effect meanwhile.
        if generation == crate::side_effects::generation() {
            assert!(std::sync::Arc::ptr_eq(&shape, &Shape::of(sql)));
        }
        assert!(!shape.read && shape.holdable);
        assert_eq!(shape.table.as_deref(), written_table(sql));
        assert_eq!(shape.join, Some(Join::Update { key: 0 }));
        let args = [Val::Text("in_1".into()), Val::Int(1), Val::Int(2)];
        assert_eq!(shape.one_row(&args), Some(&args[0]));

        let read = Shape::of("SELECT id, sealed FROM invoices WHERE id = $1 FOR UPDATE");
        assert!(read.read && !read.holdable && read.cacheable);
        assert_eq!(read.by_id_of.as_deref(), Some("invoices"));
        assert!(read.changed_by(Some("invoices")) && !read.changed_by(Some("charges")));
        assert_eq!(read.one_row(&args), None);

        let insert = Shape::of("INSERT INTO events (id, type) VALUES ($1, $2)");
        assert_eq!(insert.join, Some(Join::Insert));
        assert_eq!(insert.one_row(&args), None);
    }

    #[test]
    fn the_words_of_a_statement_name_what_a_search_finds() {
        let sql = "SELECT a.id FROM events_x a JOIN events ON b = $1 WHERE c IN ($2)";
        let shape = Shape::of(sql);
        for table in [
            "events",
            "events_x",
            "event",
            "x",
            "a",
            "id",
            "1",
            "webhook_outbox",
        ] {
            assert_eq!(shape.names(table), names_table(sql, table), "{table}");
        }
        assert!(shape.changed_by(Some("events")));
        assert!(!shape.changed_by(Some("invoices")));
        assert!(shape.changed_by(None));
    }

    #[test]
    fn the_bits_of_a_write_answer_as_its_table_does() {
        crate::side_effects::know_the_outbox_trigger();
        let reads = [
            "SELECT a.id FROM events_x a JOIN events ON b = $1 WHERE c IN ($2)",
            "SELECT seq FROM webhook_outbox WHERE event_id = $1",
            "SELECT id, sealed FROM invoices WHERE id = $1 FOR UPDATE",
            "SELECT 1",
        ];
        let writes = [
            "INSERT INTO events (id) VALUES ($1)",
            "UPDATE invoices SET sealed = $2 WHERE id = $1",
            "DELETE FROM webhook_outbox WHERE seq = $1",
            "INSERT INTO charges (id) VALUES ($1)",
            "WITH x AS (SELECT 1) UPDATE t SET a = 1",
        ];
        for read in reads {
            for write in writes {
                let (r, w) = (Shape::of(read), Shape::of(write));
                assert_eq!(
                    r.changed_by_write(&w),
                    r.changed_by(w.table.as_deref()),
                    "{read} / {write}"
                );
            }
        }
    }
}

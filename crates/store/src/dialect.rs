//! The little SQL that differs between the backends where one builder serves both.

/// Which backend a statement is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The placeholder of the `n`th parameter (from 1).
    pub(crate) fn mark(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// The function giving a substring's position (0 when absent): exact and case-sensitive,
    /// with nothing to escape, unlike LIKE.
    pub(crate) fn position(self) -> &'static str {
        match self {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        }
    }
}

/// The parameters of a statement being built, each handing out its placeholder.
pub(crate) struct Args {
    dialect: Dialect,
    pub(crate) values: Vec<String>,
}

impl Args {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            values: Vec::new(),
        }
    }

    /// Adds a parameter; its placeholder.
    pub(crate) fn push(&mut self, value: &str) -> String {
        self.values.push(value.to_owned());
        self.dialect.mark(self.values.len())
    }
}

/// ` WHERE a AND b`, or nothing when there are no clauses.
pub(crate) fn where_all(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

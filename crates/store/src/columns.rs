//! Reading a row by column name, on either backend, so each record is mapped from a row once
//! (beside its record) and a SELECT's column order cannot swap two fields.

use sqlx::postgres::PgRow;
use sqlx::Row as _;

use crate::StoreError;

/// A row whose columns are read by name. Each backend reports its own driver error; text
/// that no domain value has becomes [`Columns::corrupt`], which the backend's error mapping
/// turns back into [`StoreError::Corrupt`].
pub(crate) trait Columns {
    type Error;

    fn text(&self, col: &str) -> Result<String, Self::Error>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, Self::Error>;
    fn int(&self, col: &str) -> Result<i64, Self::Error>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, Self::Error>;
    fn flag(&self, col: &str) -> Result<bool, Self::Error>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>, Self::Error>;
    fn corrupt(&self, what: &'static str) -> Self::Error;

    /// A count, never negative.
    fn count(&self, col: &str) -> Result<u64, Self::Error> {
        Ok(u64::try_from(self.int(col)?).unwrap_or_default())
    }

    /// A text column parsed into a domain value; unknown text is corrupt, never a default.
    fn parsed<T>(
        &self,
        col: &str,
        what: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, Self::Error> {
        let text = self.text(col)?;
        parse(&text).ok_or_else(|| self.corrupt(what))
    }
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, col: &str) -> rusqlite::Result<String> {
        self.get(col)
    }
    fn opt_text(&self, col: &str) -> rusqlite::Result<Option<String>> {
        self.get(col)
    }
    fn int(&self, col: &str) -> rusqlite::Result<i64> {
        self.get(col)
    }
    fn opt_int(&self, col: &str) -> rusqlite::Result<Option<i64>> {
        self.get(col)
    }
    fn flag(&self, col: &str) -> rusqlite::Result<bool> {
        self.get(col)
    }
    fn bytes(&self, col: &str) -> rusqlite::Result<Vec<u8>> {
        self.get(col)
    }
    fn corrupt(&self, what: &'static str) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(StoreError::Corrupt { what }),
        )
    }
}

impl Columns for PgRow {
    type Error = sqlx::Error;

    fn text(&self, col: &str) -> sqlx::Result<String> {
        self.try_get(col)
    }
    fn opt_text(&self, col: &str) -> sqlx::Result<Option<String>> {
        self.try_get(col)
    }
    fn int(&self, col: &str) -> sqlx::Result<i64> {
        self.try_get(col)
    }
    fn opt_int(&self, col: &str) -> sqlx::Result<Option<i64>> {
        self.try_get(col)
    }
    fn flag(&self, col: &str) -> sqlx::Result<bool> {
        self.try_get(col)
    }
    fn bytes(&self, col: &str) -> sqlx::Result<Vec<u8>> {
        self.try_get(col)
    }
    fn corrupt(&self, what: &'static str) -> sqlx::Error {
        sqlx::Error::Decode(Box::new(StoreError::Corrupt { what }))
    }
}

/// The [`StoreError::Corrupt`] a row mapping reported through a driver error, if it is one.
pub(crate) fn corrupt_in_sqlite(e: &rusqlite::Error) -> Option<StoreError> {
    match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, inner) => corrupt_of(inner.as_ref()),
        _ => None,
    }
}

/// As [`corrupt_in_sqlite`], for sqlx.
pub(crate) fn corrupt_in_postgres(e: &sqlx::Error) -> Option<StoreError> {
    match e {
        sqlx::Error::Decode(inner) => corrupt_of(inner.as_ref()),
        _ => None,
    }
}

fn corrupt_of(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<StoreError> {
    match e.downcast_ref::<StoreError>() {
        Some(StoreError::Corrupt { what }) => Some(StoreError::Corrupt { what }),
        _ => None,
    }
}

//! Bind placeholders for statements built at run time (multi-row `VALUES`, `IN` lists).
//!
//! PostgreSQL needs numbered placeholders (`$1, $2, …`). SQLite takes them too, but sqlx
//! then asks SQLite for the name of every parameter to find its number, and SQLite finds a
//! name by a linear scan of the statement's named parameters: binding a statement of *n*
//! numbered parameters costs O(n²). A 512-row update of 9 columns spent more time there
//! than in the update itself. Plain `?` placeholders are bound by position, in O(n).

use std::fmt::Write as _;

use sqlx::AnyConnection;

/// How a built statement writes its placeholders; the binds go in the same order either
/// way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholders {
    /// `$1, $2, …` (PostgreSQL).
    Numbered,
    /// `?, ?, …` (SQLite): bound by position.
    Positional,
}

impl Placeholders {
    /// The form for the engine behind `conn`.
    pub fn of(conn: &AnyConnection) -> Self {
        if is_postgres(conn) {
            Self::Numbered
        } else {
            Self::Positional
        }
    }

    /// Appends `(…), (…), …`: `rows` tuples of `columns` placeholders, numbered from 1.
    pub fn push_rows(self, sql: &mut String, rows: usize, columns: usize) {
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            self.push_list_from(sql, row * columns + 1, columns);
            sql.push(')');
        }
    }

    /// Appends `count` comma-separated placeholders, numbered from 1 (an `IN (…)` list).
    pub fn push_list(self, sql: &mut String, count: usize) {
        self.push_list_from(sql, 1, count);
    }

    fn push_list_from(self, sql: &mut String, first: usize, count: usize) {
        for n in first..first + count {
            if n > first {
                sql.push_str(", ");
            }
            match self {
                // Writing to a String cannot fail.
                Self::Numbered => {
                    let _ = write!(sql, "${n}");
                }
                Self::Positional => sql.push('?'),
            }
        }
    }
}

/// Whether `conn` is PostgreSQL (otherwise SQLite, the daemons' two engines).
pub fn is_postgres(conn: &AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_across_tuples_or_positional() {
        let mut numbered = String::new();
        Placeholders::Numbered.push_rows(&mut numbered, 2, 3);
        assert_eq!(numbered, "($1, $2, $3), ($4, $5, $6)");
        let mut positional = String::new();
        Placeholders::Positional.push_rows(&mut positional, 2, 2);
        assert_eq!(positional, "(?, ?), (?, ?)");
    }

    #[test]
    fn lists_start_at_one() {
        let mut sql = String::from("IN (");
        Placeholders::Numbered.push_list(&mut sql, 3);
        sql.push(')');
        assert_eq!(sql, "IN ($1, $2, $3)");
        let mut sql = String::new();
        Placeholders::Positional.push_list(&mut sql, 1);
        assert_eq!(sql, "?");
    }
}

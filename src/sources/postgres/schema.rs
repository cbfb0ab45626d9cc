//! What an ALTER TABLE did, from the column lists of two Relation messages.
//!
//! pgoutput re-sends a table's Relation message before its next change after an ALTER TABLE.
//! The message lists the live columns in `attnum` order (dropped ones left out) by name and
//! type, without their `attnum`. So the change is inferred: a column whose name is kept is
//! the same column (retyped if its type differs); ADD COLUMN appends; a rename keeps the
//! column's place among the kept columns. Between the same kept neighbours, vanished and new
//! columns pair up in order as renames when their types agree; the rest are drops and adds.
//! One case cannot be told apart: dropping the last column and adding one of the same type
//! before the table changes again looks like a rename.

/// One column change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ColumnChange {
    /// `ALTER TABLE … RENAME COLUMN from TO to`.
    Renamed { from: String, to: String },
    /// `ALTER TABLE … DROP COLUMN name`.
    Dropped { name: String },
    /// `ALTER TABLE … ALTER COLUMN name TYPE …`: type OIDs before and after.
    Retyped { name: String, from: u32, to: u32 },
    /// `ALTER TABLE … ADD COLUMN name`.
    Added { name: String },
}

impl ColumnChange {
    /// The column as queries knew it before the change.
    pub(super) fn column(&self) -> &str {
        match self {
            ColumnChange::Renamed { from: name, .. }
            | ColumnChange::Dropped { name }
            | ColumnChange::Retyped { name, .. }
            | ColumnChange::Added { name } => name,
        }
    }

    /// What happened, for logs and query status; `None` for an addition, which breaks no
    /// query.
    pub(super) fn incompatibility(&self) -> Option<String> {
        match self {
            ColumnChange::Renamed { from, to } => {
                Some(format!("column '{from}' was renamed to '{to}'; '{from}' now reads as null"))
            }
            ColumnChange::Dropped { name } => {
                Some(format!("column '{name}' was dropped; it now reads as null"))
            }
            ColumnChange::Retyped { name, from, to } => Some(format!(
                "column '{name}' changed type (OID {from} to {to}); rows not changed since keep \
                 values of the old type"
            )),
            ColumnChange::Added { .. } => None,
        }
    }
}

/// The changes that turn column list `old` into `new` (both `(name, type OID)` in order).
pub(super) fn diff(old: &[(String, u32)], new: &[(String, u32)]) -> Vec<ColumnChange> {
    let kept = |name: &str, other: &[(String, u32)]| other.iter().any(|(n, _)| n == name);
    let mut changes = Vec::new();
    for (name, from) in old {
        if let Some((_, to)) = new.iter().find(|(n, _)| n == name).filter(|(_, to)| to != from) {
            changes.push(ColumnChange::Retyped { name: name.clone(), from: *from, to: *to });
        }
    }
    // Columns that are not kept, grouped by how many kept columns precede them.
    let gaps = |list: &[(String, u32)], other: &[(String, u32)]| {
        let mut gaps: Vec<Vec<(String, u32)>> = vec![Vec::new()];
        for column in list {
            if kept(&column.0, other) {
                gaps.push(Vec::new());
            } else {
                gaps.last_mut().expect("never empty").push(column.clone());
            }
        }
        gaps
    };
    let (vanished, appeared) = (gaps(old, new), gaps(new, old));
    for (gone, came) in vanished.into_iter().zip(appeared) {
        let mut came = came.into_iter().peekable();
        for (name, oid) in gone {
            match came.next_if(|(_, type_oid)| *type_oid == oid) {
                Some((to, _)) => changes.push(ColumnChange::Renamed { from: name, to }),
                None => changes.push(ColumnChange::Dropped { name }),
            }
        }
        changes.extend(came.map(|(name, _)| ColumnChange::Added { name }));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(list: &[(&str, u32)]) -> Vec<(String, u32)> {
        list.iter().map(|(n, o)| (n.to_string(), *o)).collect()
    }

    #[test]
    fn renames_drops_adds_and_type_changes() {
        let old = cols(&[("id", 23), ("name", 25), ("value", 1700), ("unit", 25)]);
        assert_eq!(diff(&old, &old), []);
        let renamed = cols(&[("id", 23), ("label", 25), ("value", 1700), ("unit", 25)]);
        assert_eq!(
            diff(&old, &renamed),
            [ColumnChange::Renamed { from: "name".into(), to: "label".into() }]
        );
        let dropped_and_added = cols(&[("id", 23), ("value", 1700), ("unit", 25), ("x", 16)]);
        assert_eq!(
            diff(&old, &dropped_and_added),
            [
                ColumnChange::Dropped { name: "name".into() },
                ColumnChange::Added { name: "x".into() }
            ]
        );
        let retyped = cols(&[("id", 23), ("name", 25), ("value", 25), ("unit", 25)]);
        assert_eq!(
            diff(&old, &retyped),
            [ColumnChange::Retyped { name: "value".into(), from: 1700, to: 25 }]
        );
        // A vanished column whose successor has another type is a drop plus an add.
        let replaced = cols(&[("id", 23), ("name", 25), ("value", 1700), ("flag", 16)]);
        assert_eq!(
            diff(&old, &replaced),
            [
                ColumnChange::Dropped { name: "unit".into() },
                ColumnChange::Added { name: "flag".into() }
            ]
        );
    }
}

//! Reading the tables as of the slot's exported snapshot.

use tokio_postgres::{Client, IsolationLevel, SimpleQueryMessage};

use super::tables::{Tables, Update};
use super::PgSourceError;

/// Reads every table inside the exported snapshot `snapshot` and returns one transaction:
/// retractions of every row held so far, then every row read. For a first bootstrap the
/// retractions are empty; after a lost slot they make the re-bootstrap a net difference.
pub(super) async fn read(
    client: &mut Client,
    snapshot: &str,
    tables: &mut Tables,
) -> Result<(Vec<Update>, u64), PgSourceError> {
    let mut updates = tables.clear();
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    // Must be the transaction's first statement; the name comes from the server.
    tx.batch_execute(&format!("SET TRANSACTION SNAPSHOT '{}'", snapshot.replace('\'', "''")))
        .await?;
    let infos: Vec<_> = tables.infos().cloned().collect();
    let mut rows = 0;
    for info in infos {
        // The simple-query protocol returns every value in text format, made by the same type
        // output functions the stream uses, so both paths parse alike. (`col::text` would not:
        // booleans cast to 'true'/'false', while their output function gives 't'/'f'.)
        let select =
            info.columns.iter().map(|(name, _)| quote_ident(name)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {select} FROM {}.{}",
            quote_ident(&info.schema),
            quote_ident(&info.name)
        );
        let table = (info.schema.clone(), info.name.clone());
        for message in tx.simple_query(&sql).await? {
            if let SimpleQueryMessage::Row(row) = message {
                let values = (0..row.len()).map(|i| row.get(i).map(str::to_string)).collect();
                tables.insert_snapshot_row(&table, values, &mut updates)?;
                rows += 1;
            }
        }
    }
    tx.commit().await?;
    tables.end_transaction();
    Ok((updates, rows))
}

/// A double-quoted SQL identifier.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

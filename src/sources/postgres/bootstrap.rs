//! Reading the tables as of the slot's exported snapshot, streamed into one engine
//! transaction.
//!
//! Each table arrives through `COPY (SELECT <columns> FROM <table>) TO STDOUT` and is decoded
//! ([`super::copy_text`]) and fed to the engine ([`Feed`]) as the data comes in, so ripple
//! holds no table whole beyond the rows it keeps anyway: peak memory stays near the steady
//! state whatever the tables' size. COPY's text format is made by the same type output
//! functions the stream uses, so both paths parse alike. (`col::text` would not: booleans cast
//! to 'true'/'false', while their output function gives 't'/'f'.)
//!
//! The whole bootstrap is one engine transaction, however many parts it takes: first the
//! retraction of every row held so far, then every row read. For a first bootstrap the
//! retractions are empty; after a lost slot they make the re-bootstrap a net difference, one
//! change set per query.

use futures::StreamExt;
use ripple_dataflows::runtime::Runtime;
use tokio_postgres::{Client, IsolationLevel};

use super::copy_text::CopyText;
use super::feed::Feed;
use super::tables::Tables;
use super::PgSourceError;

/// Reads every table inside the exported snapshot `snapshot` into one engine transaction fed
/// in parts of `part_size` updates; returns the number of rows read.
///
/// On an error part way, what was fed so far is committed (see [`Feed`]'s drop): the engine
/// then holds exactly the rows `tables` holds, and the next bootstrap retracts them.
pub(super) async fn read(
    client: &mut Client,
    snapshot: &str,
    tables: &mut Tables,
    runtime: &Runtime,
    part_size: usize,
) -> Result<u64, PgSourceError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    // Must be the transaction's first statement; the name comes from the server.
    tx.batch_execute(&format!("SET TRANSACTION SNAPSHOT '{}'", snapshot.replace('\'', "''")))
        .await?;
    let mut feed = Feed::new(runtime.begin(), part_size);
    feed.extend(tables.clear()).await;
    let infos: Vec<_> = tables.infos().cloned().collect();
    let mut rows = 0;
    for info in infos {
        let select =
            info.columns.iter().map(|(name, _)| quote_ident(name)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "COPY (SELECT {select} FROM {}.{}) TO STDOUT",
            quote_ident(&info.schema),
            quote_ident(&info.name)
        );
        let table = (info.schema.clone(), info.name.clone());
        let mut decoder = CopyText::default();
        let mut data = std::pin::pin!(tx.copy_out(&sql).await?);
        while let Some(chunk) = data.next().await {
            decoder.feed(&chunk?, &mut |values: Vec<Option<String>>| {
                if values.len() != info.columns.len() {
                    return Err(PgSourceError::Transient(format!(
                        "table {}.{}: COPY sent a row of {} values for {} columns",
                        info.schema,
                        info.name,
                        values.len(),
                        info.columns.len()
                    )));
                }
                rows += 1;
                tables.insert_snapshot_row(&table, values, feed.part())
            })?;
            feed.hand_over_if_full().await;
        }
        decoder.finish()?;
    }
    tx.commit().await?;
    tables.end_transaction();
    feed.commit();
    Ok(rows)
}

/// A double-quoted SQL identifier.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

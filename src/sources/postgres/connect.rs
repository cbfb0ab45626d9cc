//! Opening the two kinds of connection with identical session settings.
//!
//! Bootstrap rows are read as `col::text` and stream rows arrive in text format; both go
//! through the same parser, so the sessions must format values identically. Pinning these
//! settings on both connections makes a timestamp or float look the same whichever way it came.

use std::time::Duration;

use pgwire_replication::{Lsn, ReplicationConfig, TlsConfig};
use tokio_postgres::NoTls;

use super::PgSourceError;
use crate::config::{PostgresSourceConfig, SslMode};

/// Session settings shared by the SQL and the replication connection.
const SESSION_OPTIONS: &str = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601 \
                               -c extra_float_digits=3 -c bytea_output=hex";

/// How often acknowledged positions reach the server (PostgreSQL's default is 10 s; a short
/// interval lets `confirmed_flush_lsn`, and so WAL retention, follow closely).
const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// Rejects settings this build cannot honour, before any connection is tried.
pub(super) fn check_supported(config: &PostgresSourceConfig) -> Result<(), PgSourceError> {
    if config.ssl_mode == SslMode::Require {
        return Err(PgSourceError::Fatal(format!(
            "source '{}': ssl_mode 'require' is not supported yet; use 'disable' or 'prefer' (which connects without TLS)",
            config.id
        )));
    }
    Ok(())
}

/// A SQL connection for catalog queries and the snapshot read.
pub(super) async fn sql(
    config: &PostgresSourceConfig,
) -> Result<tokio_postgres::Client, PgSourceError> {
    let mut pg = tokio_postgres::Config::new();
    pg.host(&config.host)
        .port(config.port)
        .user(&config.user)
        .password(&config.password)
        .dbname(&config.database)
        .application_name("ripple")
        .options(SESSION_OPTIONS)
        .connect_timeout(Duration::from_secs(10));
    let (client, connection) = pg.connect(NoTls).await?;
    let source_id = config.id.clone();
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(message = "SQL connection closed.", %source_id, %error);
        }
    });
    Ok(client)
}

/// Settings for a replication connection that starts at `start` (0/0 = the slot's
/// confirmed position) and reports `acknowledged` as flushed until something newer is.
pub(super) fn replication(
    config: &PostgresSourceConfig,
    start: Lsn,
    acknowledged: Lsn,
) -> ReplicationConfig {
    ReplicationConfig::new(
        config.host.as_str(),
        config.user.as_str(),
        config.password.as_str(),
        config.database.as_str(),
        config.slot_name.as_str(),
        config.publication_name.as_str(),
    )
    .with_port(config.port)
    .with_tls(TlsConfig::disabled())
    .with_start_lsn(start)
    .with_ack_lsn(acknowledged)
    .with_status_interval(STATUS_INTERVAL)
    .with_options(SESSION_OPTIONS)
    .with_application_name("ripple")
}

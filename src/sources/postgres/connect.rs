//! Opening the two kinds of connection with identical session settings.
//!
//! Bootstrap rows are read as `col::text` and stream rows arrive in text format; both go
//! through the same parser, so the sessions must format values identically. Pinning these
//! settings on both connections makes a timestamp or float look the same whichever way it came.
//!
//! Both libraries open their TCP sockets themselves and set `TCP_NODELAY` on them
//! (tokio-postgres 0.7 in `connect_socket`, pgwire-replication 0.5 right after connecting),
//! so standby status updates and bootstrap queries are not held back by Nagle's algorithm;
//! ripple has no client socket of its own to set it on.

use std::time::Duration;

use pgwire_replication::{Lsn, ReplicationConfig, TlsConfig};
use tokio_postgres::NoTls;

use super::{tls, PgSourceError};
use crate::config::{PostgresSourceConfig, SslMode};

/// Session settings shared by the SQL and the replication connection.
const SESSION_OPTIONS: &str = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601 \
                               -c extra_float_digits=3 -c bytea_output=hex";

/// How often acknowledged positions reach the server (PostgreSQL's default is 10 s; a short
/// interval lets `confirmed_flush_lsn`, and so WAL retention, follow closely).
const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// A SQL connection for catalog queries and the snapshot read, with TLS as `ssl_mode` says.
pub(super) async fn sql(
    config: &PostgresSourceConfig,
) -> Result<tokio_postgres::Client, PgSourceError> {
    use tokio_postgres::config::SslMode as PgSslMode;
    let mut pg = tokio_postgres::Config::new();
    pg.host(&config.host)
        .port(config.port)
        .user(&config.user)
        .password(&config.password)
        .dbname(&config.database)
        .application_name("ripple")
        .options(SESSION_OPTIONS)
        .connect_timeout(Duration::from_secs(10));
    let id = || config.id.clone();
    let connected = match config.ssl_mode {
        SslMode::Disable => {
            pg.ssl_mode(PgSslMode::Disable).connect(NoTls).await.map(|c| drive(c, id()))
        }
        mode => {
            let mode =
                if mode == SslMode::Require { PgSslMode::Require } else { PgSslMode::Prefer };
            pg.ssl_mode(mode).connect(tls::connector()).await.map(|c| drive(c, id()))
        }
    };
    connected.map_err(|error| {
        let no_tls = std::error::Error::source(&error)
            .is_some_and(|cause| cause.to_string() == "server does not support TLS");
        if no_tls {
            tls_refused(config)
        } else {
            error.into()
        }
    })
}

/// Runs a connection's I/O in its own task; returns its client.
fn drive<S, T>(
    (client, connection): (tokio_postgres::Client, tokio_postgres::Connection<S, T>),
    source_id: String,
) -> tokio_postgres::Client
where
    tokio_postgres::Connection<S, T>:
        std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(message = "SQL connection closed.", %source_id, %error);
        }
    });
    client
}

/// `ssl_mode: require` against a server without TLS: a setting only the operator can change.
fn tls_refused(config: &PostgresSourceConfig) -> PgSourceError {
    PgSourceError::Fatal(format!(
        "source '{}': ssl_mode is 'require' but the server at {}:{} does not accept TLS \
         connections (enable ssl on the server, or set ssl_mode to 'prefer' or 'disable')",
        config.id, config.host, config.port
    ))
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
    .with_tls(TlsConfig { mode: replication_tls(config.ssl_mode), ..TlsConfig::default() })
    .with_start_lsn(start)
    .with_ack_lsn(acknowledged)
    .with_status_interval(STATUS_INTERVAL)
    .with_options(SESSION_OPTIONS)
    .with_application_name("ripple")
}

/// pgwire-replication's mode for `ssl_mode`; its `prefer` and `require` skip certificate
/// verification, as [`tls`] does for the SQL connection.
fn replication_tls(mode: SslMode) -> pgwire_replication::SslMode {
    match mode {
        SslMode::Disable => pgwire_replication::SslMode::Disable,
        SslMode::Prefer => pgwire_replication::SslMode::Prefer,
        SslMode::Require => pgwire_replication::SslMode::Require,
    }
}

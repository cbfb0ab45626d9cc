//! ripple's integration tests: one binary (so PostgreSQL starts once), real processes, real
//! PostgreSQL, real HTTP/SSE clients.
//!
//! Where tests go:
//! * `tutorial`: the tutorial's end-to-end path and restarts.
//! * `cli`: `ripple validate` and command-line behaviour.
//! * `cluster`: 2 processes × 2 workers equal 1 × 1; clean and failed cluster shutdown.
//! * `dashboard`: the tutorial's page in headless Chromium.
//! * `joins`: relationships between tables through a query's `joins`.
//! * `lifecycle`: queries and reactions added and removed over REST while data flows.
//! * `source`: the PostgreSQL source: results equal SQL under writes, reconnects, `kill -9`
//!   and PostgreSQL restarts; WAL release; types and row semantics.
//! * `workers`: `--workers 1` and `--workers 3` give identical results and events.
//! * `subscriptions`: SSE ids, resumption, snapshots, slow clients, `/metrics`, the gap-free
//!   page `public/live.html`.
//! * `support/`: harness pieces (PostgreSQL, ripple process, SSE client, browser).

mod api;
mod cli;
mod cluster;
mod dashboard;
mod joins;
mod lifecycle;
mod source;
mod subscriptions;
mod support;
mod tutorial;
mod workers;

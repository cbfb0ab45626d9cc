//! Helpers shared by the integration tests: a throwaway PostgreSQL cluster, ripple as a
//! process, an SSE client and a headless browser.

pub mod browser;
pub mod pg;
pub mod ripple;
pub mod sse;
pub mod web;

//! Helpers shared by the integration tests: a throwaway PostgreSQL cluster, ripple as a
//! process, an SSE client, a headless browser and the server's end of a connection.

pub mod browser;
pub mod pg;
pub mod ripple;
pub mod sockets;
pub mod sse;
pub mod web;

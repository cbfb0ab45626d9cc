//! SSE probe for the end-to-end benchmarks (`scripts/bench`): N concurrent clients on one
//! ripple SSE stream, each recording when every event arrived.
//!
//! Not a Criterion/libtest benchmark (`harness = false`): `scripts/bench` builds it with
//! `cargo bench --bench sse_probe --no-run` and runs the binary with arguments:
//!
//! ```text
//! sse_probe --url http://127.0.0.1:18081/events --clients 1000 --max-secs 120 \
//!           --ready-file R --stop-file S --summary out.json \
//!           [--events-csv events.csv] [--series series.csv] [--check-gaps]
//! ```
//!
//! * It writes `--ready-file` once every client has its response headers (so the load starts
//!   only when everyone listens), and stops when `--stop-file` appears or after `--max-secs`.
//!   If the stop file holds a number N, each client first reads on until it has N events
//!   (at most 30 s more), so events still in flight are counted, not cut off.
//! * Latency: for every event whose rows carry `updated_at` (the tutorial's metrics table,
//!   stamped with `clock_timestamp()` in UTC by the load), receipt time minus the newest
//!   `updated_at` in the event, both on this machine's clock.
//! * `--events-csv` (client 0 only): one line per event, `recv_us,epoch,time,n,ts_us,hids`,
//!   where `hids` lists the `hid` values of added rows (the benchmark's `pgbench_history`
//!   key), joined with PostgreSQL's commit timestamps afterwards by `scripts/bench`.
//! * `--check-gaps`: the stream carries one query whose result changes in every source
//!   transaction, so the engine times `<epoch>.<time>.<n>` of consecutive events must be
//!   consecutive integers; every jump is counted as a gap.
//! * `--summary`: JSON with per-client counts (min/max), gaps, latency percentiles over every
//!   event of every client; `--series`: per-second receipt counts and latency percentiles.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone)]
struct Args {
    url: String,
    clients: usize,
    max_secs: u64,
    ready_file: Option<String>,
    stop_file: Option<String>,
    summary: Option<String>,
    events_csv: Option<String>,
    series: Option<String>,
    check_gaps: bool,
}

/// Events every client should get: the stop file's content, if it is a number. After the
/// stop file appears each client keeps reading until it has that many (or 30 s pass), so
/// events still in flight are counted, not cut off.
static EXPECT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn parse_args() -> Args {
    let mut args = Args {
        url: String::new(),
        clients: 1,
        max_secs: 60,
        ready_file: None,
        stop_file: None,
        summary: None,
        events_csv: None,
        series: None,
        check_gaps: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--url" => args.url = value(),
            "--clients" => args.clients = value().parse().expect("--clients: a number"),
            "--max-secs" => args.max_secs = value().parse().expect("--max-secs: a number"),
            "--ready-file" => args.ready_file = Some(value()),
            "--stop-file" => args.stop_file = Some(value()),
            "--summary" => args.summary = Some(value()),
            "--events-csv" => args.events_csv = Some(value()),
            "--series" => args.series = Some(value()),
            "--check-gaps" => args.check_gaps = true,
            // `cargo bench` passes `--bench` to every bench target; ignore it.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!args.url.is_empty(), "--url is required");
    args
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// `2026-11-29T12:34:56.123456` (optionally with a trailing `Z`), read as UTC, in µs since the
/// Unix epoch.
fn parse_ts(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(num(0..4)?, num(5..7)?, num(8..10)?);
    let secs = days * 86400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    let mut micros = 0i64;
    if b.len() > 20 && b[19] == b'.' {
        let frac: String = s[20..].chars().take_while(|c| c.is_ascii_digit()).collect();
        let padded = format!("{frac:0<6}");
        micros = padded[..6].parse().ok()?;
    }
    Some(secs * 1_000_000 + micros)
}

/// The newest `"updated_at":"…"` value in an event's data, in µs.
fn newest_updated_at(data: &str) -> Option<i64> {
    const KEY: &str = "\"updated_at\":\"";
    let mut best = None;
    let mut rest = data;
    while let Some(at) = rest.find(KEY) {
        rest = &rest[at + KEY.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        if let Some(ts) = parse_ts(&rest[..end]) {
            best = Some(best.map_or(ts, |b: i64| b.max(ts)));
        }
    }
    best
}

/// Every `"hid":<integer>` in an event's data.
fn hids(data: &str) -> Vec<i64> {
    const KEY: &str = "\"hid\":";
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.find(KEY) {
        rest = &rest[at + KEY.len()..];
        let end = rest.find(|c: char| !c.is_ascii_digit() && c != '-').unwrap_or(rest.len());
        if let Ok(v) = rest[..end].parse() {
            out.push(v);
        }
    }
    out
}

/// `<epoch>.<time>.<n>` → (epoch, time, n).
fn parse_id(id: &str) -> Option<(u64, u64, u64)> {
    let mut parts = id.trim().split('.');
    let epoch = parts.next()?.parse().ok()?;
    let time = parts.next()?.parse().ok()?;
    let n = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((epoch, time, n))
}

/// What one client saw.
#[derive(Default)]
struct ClientResult {
    connected: bool,
    error: Option<String>,
    events: u64,
    gaps: u64,
    /// Streams the server ended (slow-client drops), each followed by a reconnect.
    ended: u64,
    reconnects: u64,
    /// `event: reset` received after a reconnect (the journal could not serve the gap).
    resets: u64,
    first_time: Option<u64>,
    last_time: Option<u64>,
    /// (receipt µs, latency µs) for events carrying `updated_at`.
    latencies: Vec<(i64, i64)>,
    /// Client 0 only: raw event lines for `--events-csv`.
    lines: Vec<String>,
}

async fn run_client(
    index: usize,
    args: Arc<Args>,
    http: reqwest::Client,
    connected: Arc<AtomicUsize>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> ClientResult {
    let mut result = ClientResult::default();
    let mut last_id: Option<String> = None;
    let mut stop = stop;
    // Per query index n, the last engine time seen (gap check).
    let mut last_per_query: BTreeMap<u64, u64> = BTreeMap::new();
    loop {
        let ended = run_stream(
            index,
            &args,
            &http,
            &connected,
            &mut stop,
            &mut result,
            &mut last_id,
            &mut last_per_query,
        )
        .await;
        // A stream that ended by itself (ripple drops a client that falls 1024 events
        // behind) is resumed the way a browser does: reconnect with Last-Event-ID.
        if !ended || *stop.borrow() || result.reconnects >= 100 {
            break;
        }
        result.reconnects += 1;
    }
    result
}

/// One connection. Returns true if the server ended the stream (a reconnect may follow).
#[allow(clippy::too_many_arguments)]
async fn run_stream(
    index: usize,
    args: &Args,
    http: &reqwest::Client,
    connected: &AtomicUsize,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    result: &mut ClientResult,
    last_id: &mut Option<String>,
    last_per_query: &mut BTreeMap<u64, u64>,
) -> bool {
    let first = !result.connected && result.error.is_none();
    let mut request = http.get(&args.url);
    if let Some(id) = last_id.as_ref() {
        request = request.header("Last-Event-ID", id.clone());
    }
    let response = match request.send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            result.error = Some(format!("HTTP {}", r.status()));
            if first {
                connected.fetch_add(1, Ordering::SeqCst);
            }
            return false;
        }
        Err(e) => {
            result.error = Some(e.to_string());
            if first {
                connected.fetch_add(1, Ordering::SeqCst);
            }
            return false;
        }
    };
    if first {
        result.connected = true;
        connected.fetch_add(1, Ordering::SeqCst);
    }
    let record_lines = index == 0 && args.events_csv.is_some();
    let mut stream = response.bytes_stream();
    let mut buffer: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut grace: Option<tokio::time::Instant> = None;
    if *stop.borrow() {
        grace = Some(tokio::time::Instant::now() + Duration::from_secs(30));
    }
    loop {
        if grace.is_some() && result.events >= EXPECT.load(Ordering::SeqCst) {
            break;
        }
        let chunk = tokio::select! {
            chunk = stream.next() => chunk,
            _ = stop.changed(), if grace.is_none() => {
                grace = Some(tokio::time::Instant::now() + Duration::from_secs(30));
                continue;
            }
            _ = tokio::time::sleep_until(grace.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600))), if grace.is_some() => break,
        };
        let chunk = match chunk {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                result.error = Some(e.to_string());
                return true;
            }
            None => {
                result.ended += 1;
                return true;
            }
        };
        let received = now_us();
        buffer.extend_from_slice(&chunk);
        // Complete events end with a blank line. Walk them with a cursor and drop the
        // consumed prefix once per chunk (a burst of thousands of events must stay linear).
        let mut consumed = 0;
        while let Some(end) = find_double_newline(&buffer[consumed..]) {
            let block = &buffer[consumed..consumed + end + 2];
            consumed += end + 2;
            let text = String::from_utf8_lossy(block);
            let mut id = None;
            let mut data = String::new();
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            let Some(id) = id else { continue }; // a heartbeat comment
            let Some((epoch, time, n)) = parse_id(&id) else { continue };
            *last_id = Some(id.clone());
            result.events += 1;
            if text.contains("event: reset") {
                result.resets += 1;
            }
            if args.check_gaps {
                if let Some(last) = last_per_query.get(&n) {
                    if time != last + 1 {
                        result.gaps += 1;
                    }
                }
                last_per_query.insert(n, time);
            }
            result.first_time.get_or_insert(time);
            result.last_time = Some(time);
            let ts = newest_updated_at(&data);
            if let Some(ts) = ts {
                result.latencies.push((received, received - ts));
            }
            if record_lines {
                let h: Vec<String> = hids(&data).iter().map(|h| h.to_string()).collect();
                result.lines.push(format!(
                    "{received},{epoch},{time},{n},{},{}",
                    ts.map(|t| t.to_string()).unwrap_or_default(),
                    h.join(";")
                ));
            }
        }
        buffer.drain(..consumed);
    }
    false
}

fn find_double_newline(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n")
}

fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    Some(sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0)
}

#[tokio::main]
async fn main() {
    let args = Arc::new(parse_args());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .build()
        .expect("HTTP client");
    let connected = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::with_capacity(args.clients);
    for index in 0..args.clients {
        handles.push(tokio::spawn(run_client(
            index,
            args.clone(),
            http.clone(),
            connected.clone(),
            stop_rx.clone(),
        )));
        // Connect in bursts of 100 so the listener's accept backlog is not overrun.
        if index % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_secs);
    // Ready once every client has its headers (or failed).
    while connected.load(Ordering::SeqCst) < args.clients && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(path) = &args.ready_file {
        let mut f = tokio::fs::File::create(path).await.expect("ready file");
        f.write_all(format!("{}\n", connected.load(Ordering::SeqCst)).as_bytes()).await.ok();
    }
    // Run until the stop file appears or the hard deadline passes.
    loop {
        if Instant::now() >= deadline {
            eprintln!("sse_probe: --max-secs reached");
            break;
        }
        if let Some(path) = &args.stop_file {
            if std::path::Path::new(path).exists() {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                EXPECT.store(text.trim().parse().unwrap_or(0), Ordering::SeqCst);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_tx.send(true).ok();
    let mut results = Vec::with_capacity(handles.len());
    for h in handles {
        results.push(h.await.expect("client task"));
    }

    // Aggregate.
    let mut all: Vec<i64> = Vec::new();
    let mut per_second: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for r in &results {
        for (recv, lat) in &r.latencies {
            all.push(*lat);
            per_second.entry(recv / 1_000_000).or_default().push(*lat);
        }
    }
    all.sort_unstable();
    let ok: Vec<&ClientResult> = results.iter().filter(|r| r.connected).collect();
    let events: Vec<u64> = ok.iter().map(|r| r.events).collect();
    let errors: Vec<String> = results.iter().filter_map(|r| r.error.clone()).take(5).collect();
    let summary = serde_json::json!({
        "clients": args.clients,
        "connected": ok.len(),
        "streams_ended_by_server": results.iter().map(|r| r.ended).sum::<u64>(),
        "clients_dropped_at_least_once": results.iter().filter(|r| r.ended > 0).count(),
        "reconnects": results.iter().map(|r| r.reconnects).sum::<u64>(),
        "resets": results.iter().map(|r| r.resets).sum::<u64>(),
        "errors": errors,
        "events_min": events.iter().min(),
        "events_max": events.iter().max(),
        "events_total": events.iter().sum::<u64>(),
        "gaps_total": ok.iter().map(|r| r.gaps).sum::<u64>(),
        "clients_with_gaps": ok.iter().filter(|r| r.gaps > 0).count(),
        "first_time_min": ok.iter().filter_map(|r| r.first_time).min(),
        "first_time_max": ok.iter().filter_map(|r| r.first_time).max(),
        "last_time_min": ok.iter().filter_map(|r| r.last_time).min(),
        "last_time_max": ok.iter().filter_map(|r| r.last_time).max(),
        "latency_samples": all.len(),
        "latency_ms": {
            "p50": percentile(&all, 50.0),
            "p95": percentile(&all, 95.0),
            "p99": percentile(&all, 99.0),
            "p999": percentile(&all, 99.9),
            "max": all.last().map(|v| *v as f64 / 1000.0),
            "min": all.first().map(|v| *v as f64 / 1000.0),
        },
    });
    let text = serde_json::to_string_pretty(&summary).expect("json");
    match &args.summary {
        Some(path) => std::fs::write(path, &text).expect("summary file"),
        None => println!("{text}"),
    }
    if let Some(path) = &args.series {
        let mut out = String::from("second,events,p50_ms,p99_ms,max_ms\n");
        for (sec, mut lats) in per_second {
            lats.sort_unstable();
            out.push_str(&format!(
                "{sec},{},{:.3},{:.3},{:.3}\n",
                lats.len(),
                percentile(&lats, 50.0).unwrap_or(0.0),
                percentile(&lats, 99.0).unwrap_or(0.0),
                *lats.last().unwrap_or(&0) as f64 / 1000.0
            ));
        }
        std::fs::write(path, out).expect("series file");
    }
    if let Some(path) = &args.events_csv {
        let mut out = String::from("recv_us,epoch,time,n,ts_us,hids\n");
        if let Some(first) = results.first() {
            for line in &first.lines {
                out.push_str(line);
                out.push('\n');
            }
        }
        std::fs::write(path, out).expect("events file");
    }
}

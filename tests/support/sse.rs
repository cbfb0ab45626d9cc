//! A minimal Server-Sent Events client over reqwest, reading the wire format itself.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

/// One SSE event as received.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    /// The `event:` field, if any (`reset`, `snapshot`).
    pub event: Option<String>,
    /// The `id:` field, if any.
    pub id: Option<String>,
    /// The `data:` lines joined by newlines.
    pub data: String,
}

impl SseEvent {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

/// An open event stream.
pub struct SseClient {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    /// Comment lines seen (heartbeats).
    pub comments: usize,
    /// The text of every comment line seen, without the colon.
    pub comment_texts: Vec<String>,
    /// Whether the server ended the stream.
    pub ended: bool,
}

impl SseClient {
    /// Connects and checks the response is an event stream that allows any origin.
    pub async fn connect(url: &str) -> SseClient {
        SseClient::resume(url, None).await
    }

    /// Connects with a `Last-Event-ID` header, as a browser does when it reconnects.
    pub async fn resume(url: &str, last_event_id: Option<&str>) -> SseClient {
        let mut request = reqwest::Client::new().get(url).header("Origin", "http://localhost:3000");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        assert!(
            response.headers().contains_key("access-control-allow-origin"),
            "CORS header missing"
        );
        SseClient {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            comments: 0,
            comment_texts: Vec::new(),
            ended: false,
        }
    }

    /// The next event, or `None` if none arrives within `timeout` or the stream ended
    /// ([`ended`](Self::ended) tells which).
    pub async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(event) = self.take_event() {
                return Some(event);
            }
            let Some(chunk) = tokio::time::timeout_at(deadline, self.body.next()).await.ok()?
            else {
                self.ended = true;
                return None;
            };
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
        }
    }

    /// Parses one complete event out of the buffer, skipping comment-only blocks.
    fn take_event(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut event = SseEvent { event: None, id: None, data: String::new() };
            let mut has_data = false;
            for line in block.lines() {
                if let Some(comment) = line.strip_prefix(':') {
                    self.comments += 1;
                    self.comment_texts.push(comment.trim_start().to_string());
                } else if let Some(data) = line.strip_prefix("data:") {
                    if has_data {
                        event.data.push('\n');
                    }
                    event.data.push_str(data.strip_prefix(' ').unwrap_or(data));
                    has_data = true;
                } else if let Some(name) = line.strip_prefix("event:") {
                    event.event = Some(name.trim_start().to_string());
                } else if let Some(id) = line.strip_prefix("id:") {
                    event.id = Some(id.trim_start().to_string());
                }
            }
            if has_data {
                return Some(event);
            }
        }
    }
}

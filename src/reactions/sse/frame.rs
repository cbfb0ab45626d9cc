//! The wire text of Server-Sent Events, rendered once and shared (`Bytes` are reference
//! counted), so that sending an event to many clients copies nothing per client.

use axum::body::Bytes;
use serde::Serialize;

/// Writes event frames through one reused buffer: the JSON is serialised straight into it,
/// and each frame then costs one allocation of exactly its size (the journal holds frames
/// for long, so spare capacity would be memory kept for nothing).
#[derive(Debug, Default)]
pub struct FrameWriter {
    scratch: Vec<u8>,
}

impl FrameWriter {
    /// An event: optional `event:` name, `id:`, and `data` as JSON on one `data:` line.
    /// Compact JSON never holds a line break (serde_json escapes them inside strings), so one
    /// line always carries all of it.
    pub fn event(&mut self, name: Option<&str>, id: &str, data: &impl Serialize) -> Bytes {
        let text = &mut self.scratch;
        text.clear();
        if let Some(name) = name {
            text.extend_from_slice(b"event: ");
            text.extend_from_slice(name.as_bytes());
            text.push(b'\n');
        }
        text.extend_from_slice(b"id: ");
        text.extend_from_slice(id.as_bytes());
        text.extend_from_slice(b"\ndata: ");
        serde_json::to_writer(&mut *text, data)
            .expect("writing to memory cannot fail, and engine values always serialise");
        text.extend_from_slice(b"\n\n");
        Bytes::copy_from_slice(text)
    }
}

/// A comment (`: text`), which clients ignore: heartbeats and the reason a stream ends.
pub fn comment(text: &str) -> Bytes {
    Bytes::from(format!(": {text}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_comments_on_the_wire() {
        let mut writer = FrameWriter::default();
        let data = serde_json::json!({ "text": "a\nb" });
        assert_eq!(writer.event(None, "1.2.0", &data), "id: 1.2.0\ndata: {\"text\":\"a\\nb\"}\n\n");
        assert_eq!(
            writer.event(Some("reset"), "1.2", &[1]),
            "event: reset\nid: 1.2\ndata: [1]\n\n"
        );
        assert_eq!(comment("heartbeat"), ": heartbeat\n\n");
    }
}

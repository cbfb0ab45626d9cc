//! The wire text of Server-Sent Events, rendered once and shared (`Bytes` are reference
//! counted), so that sending an event to many clients copies nothing per client.

use axum::body::Bytes;

/// An event: optional `event:` name, `id:`, and `data` as `data:` lines (one per line of it).
pub fn event(name: Option<&str>, id: &str, data: &str) -> Bytes {
    let mut text = String::with_capacity(data.len() + id.len() + 32);
    if let Some(name) = name {
        text.push_str("event: ");
        text.push_str(name);
        text.push('\n');
    }
    text.push_str("id: ");
    text.push_str(id);
    text.push('\n');
    for line in data.split('\n') {
        text.push_str("data: ");
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    Bytes::from(text)
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
        assert_eq!(event(None, "1.2.0", "{}"), "id: 1.2.0\ndata: {}\n\n");
        assert_eq!(
            event(Some("reset"), "1.2", "a\nb"),
            "event: reset\nid: 1.2\ndata: a\ndata: b\n\n"
        );
        assert_eq!(comment("heartbeat"), ": heartbeat\n\n");
    }
}

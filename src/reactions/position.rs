//! Positions in a query's history, and the SSE event ids made from them.
//!
//! Engine times restart at 1 in every process, so a position also names the process's
//! *epoch*, a number that grows with every start (see [`super::epoch`]). The text forms:
//!
//! * `<epoch>.<time>`: just after transaction `time`, every change it made included. REST
//!   results report this (`data.position`), and so does a `reset` or `snapshot` event.
//! * `<epoch>.<time>.<n>`: the change event of the `n`-th query (in the reaction's
//!   `queries` order) at transaction `time`. Every SSE change event carries one as its `id:`.
//!
//! Both compare as (epoch, time, n), with the first form after every event of its
//! transaction, so ids on one stream strictly increase, also across restarts. Clients pass
//! them back unchanged (`Last-Event-ID`, `?since=`); a page that merges several REST
//! snapshots may compare them numerically, part by part.

use std::fmt;

use ripple_dataflows::runtime::Time;

/// The `n` of a whole-transaction position: after every query's event of that time.
const WHOLE: u32 = u32::MAX;

/// A point in the ordered event stream of a reaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// The process start the time belongs to.
    pub epoch: u64,
    /// The engine time.
    pub time: Time,
    /// The query's index within the reaction, or [`WHOLE`].
    index: u32,
}

impl Cursor {
    /// Just after transaction `time`.
    pub fn after(epoch: u64, time: Time) -> Cursor {
        Cursor { epoch, time, index: WHOLE }
    }

    /// The event of the reaction's `index`-th query at `time`.
    pub fn event(epoch: u64, time: Time, index: usize) -> Cursor {
        let index = u32::try_from(index).unwrap_or(WHOLE - 1).min(WHOLE - 1);
        Cursor { epoch, time, index }
    }

    /// Parses either text form; `None` for anything else.
    pub fn parse(text: &str) -> Option<Cursor> {
        let mut parts = text.trim().split('.');
        let epoch = parts.next()?.parse().ok()?;
        let time = parts.next()?.parse().ok()?;
        let index = match parts.next() {
            None => WHOLE,
            Some(n) => n.parse().ok().filter(|n| *n != WHOLE)?,
        };
        parts.next().is_none().then_some(Cursor { epoch, time, index })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.index == WHOLE {
            write!(f, "{}.{}", self.epoch, self.time)
        } else {
            write!(f, "{}.{}.{}", self.epoch, self.time, self.index)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_round_trip() {
        for text in ["7.0", "7.42", "7.42.0", "7.42.3", "1780000000000.5.1"] {
            assert_eq!(Cursor::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn malformed_ids_do_not_parse() {
        for text in ["", "7", "x.1", "7.-1", "7.1.x", "7.1.2.3", "7.1.4294967295", "7..1"] {
            assert_eq!(Cursor::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn order_is_epoch_then_time_then_query_with_whole_transactions_last() {
        let ordered = [
            Cursor::after(1, 9),
            Cursor::event(1, 10, 0),
            Cursor::event(1, 10, 2),
            Cursor::after(1, 10),
            Cursor::event(1, 11, 0),
            Cursor::event(2, 1, 0),
        ];
        assert!(ordered.windows(2).all(|w| w[0] < w[1]));
    }
}

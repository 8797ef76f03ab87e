//! The events in commit order, stored in fixed-size chunks.
//!
//! Events are appended on the ledger's commit path, under the projection's write lock, and the log
//! only ever grows. One `Vec<Event>` doubles by copying everything it holds: at half a million
//! events that is a 100 MB copy plus fresh pages, tens of milliseconds during which every waiting
//! request stalls. Chunks are allocated once at their full size and never moved, so an append
//! costs the same at the millionth event as at the first.

use super::model::Event;

/// Events per chunk (about 200 KiB of events).
const EVENTS_PER_CHUNK: usize = 1024;

/// An append-only log of events; position `i` holds the event with sequence `i + 1`.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    chunks: Vec<Vec<Event>>,
    len: usize,
}

impl EventLog {
    pub fn new() -> EventLog {
        EventLog::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, event: Event) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < EVENTS_PER_CHUNK => chunk.push(event),
            _ => {
                let mut chunk = Vec::with_capacity(EVENTS_PER_CHUNK);
                chunk.push(event);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// The events from position `start` (0-based) on, in order; empty past the end.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &Event> + '_ {
        let first_chunk = start / EVENTS_PER_CHUNK;
        let skip = start % EVENTS_PER_CHUNK;
        self.chunks.iter().skip(first_chunk).flatten().skip(skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::model::EventType;
    use ledger::ids::Timestamp;

    fn event(sequence: u64) -> Event {
        Event::bare(sequence, EventType::PaymentPosted, sequence, Timestamp(0))
    }

    #[test]
    fn reads_back_in_order_from_any_position_across_chunks() {
        let mut log = EventLog::new();
        let total = EVENTS_PER_CHUNK * 3 + 7;
        for sequence in 1..=total as u64 {
            log.push(event(sequence));
        }
        assert_eq!(log.len(), total);
        for start in [0, 1, EVENTS_PER_CHUNK - 1, EVENTS_PER_CHUNK, EVENTS_PER_CHUNK + 1, total - 1, total, total + 5] {
            let sequences: Vec<u64> = log.iter_from(start).map(|event| event.sequence).collect();
            let expected: Vec<u64> = ((start as u64 + 1)..=total as u64).collect();
            assert_eq!(sequences, expected, "from position {start}");
        }
    }

    #[test]
    fn an_empty_log_yields_nothing() {
        let log = EventLog::new();
        assert!(log.is_empty());
        assert_eq!(log.iter_from(0).count(), 0);
    }
}

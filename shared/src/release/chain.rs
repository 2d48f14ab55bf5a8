//! The audit trail as a hash chain: each event carries the hash of itself and of the one before
//! it (per release), so a changed, removed or inserted event breaks the chain from there on.
//! The store links events as it appends them; `rollgate verify` walks the chain.

use crate::domain::hash::sha256_hex;
use crate::release::ReleaseEvent;

/// The hash of `event` chained to `previous` (the empty string before the first event): SHA-256
/// over the previous hash and the event as stored, its own hash left out.
pub fn link(previous: &str, event: &ReleaseEvent) -> String {
    let mut unhashed = event.clone();
    unhashed.hash.clear();
    let body = serde_json::to_string(&unhashed).unwrap_or_default();
    sha256_hex(format!("{previous}\n{body}").as_bytes())
}

/// Where and how a trail's chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the trail breaks at event {seq}: {problem}")]
pub struct Break {
    pub seq: u64,
    pub problem: String,
}

/// What a walk of an intact chain found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub events: usize,
    /// Events written before trails were chained (they lead the trail and carry no hash); the
    /// chain vouches for what follows them only.
    pub unchained: usize,
    /// The last event's hash: the trail as a whole.
    pub head: String,
}

/// Walks a release's trail (as the store returns it, by sequence number) and reports the first
/// break: a sequence number out of place (an event removed or inserted), or a hash that is not
/// the event's (an event changed, or one before it).
pub fn verify(events: &[ReleaseEvent]) -> Result<Verified, Break> {
    let mut previous = String::new();
    let mut unchained = 0;
    for (index, event) in events.iter().enumerate() {
        let expected_seq = u64::try_from(index).unwrap_or(u64::MAX).saturating_add(1);
        if event.seq != expected_seq {
            return Err(Break {
                seq: expected_seq,
                problem: format!("expected event {expected_seq}, found event {} (an event was removed or inserted)", event.seq),
            });
        }
        if event.hash.is_empty() {
            if previous.is_empty() && unchained == index {
                // Written before chaining: a prefix of the trail only.
                unchained += 1;
                continue;
            }
            return Err(Break { seq: event.seq, problem: "the event carries no hash, but the events before it do".into() });
        }
        let linked = link(&previous, event);
        if linked != event.hash {
            return Err(Break {
                seq: event.seq,
                problem: format!(
                    "its hash {} is not {} (this event or the one before it was changed)",
                    crate::domain::text::prefix(&event.hash, 12),
                    crate::domain::text::prefix(&linked, 12)
                ),
            });
        }
        previous = linked;
    }
    Ok(Verified { events: events.len(), unchained, head: previous })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::release::EventKind;

    fn chained(n: u64) -> Vec<ReleaseEvent> {
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).single().unwrap_or_default();
        let mut previous = String::new();
        (1..=n)
            .map(|seq| {
                let mut event = ReleaseEvent::new("r1", at, "traffic-switch", EventKind::Notified { event: format!("e{seq}"), via: None });
                event.seq = seq;
                event.hash = link(&previous, &event);
                previous = event.hash.clone();
                event
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_a_changed_removed_or_inserted_event_breaks_it() {
        let trail = chained(5);
        let verified = verify(&trail).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((verified.events, verified.unchained, verified.head.as_str()), (5, 0, trail[4].hash.as_str()));

        let mut changed = trail.clone();
        changed[2].actor = "someone else".into();
        assert_eq!(verify(&changed).map_err(|b| b.seq), Err(3));

        let mut removed = trail.clone();
        removed.remove(1);
        assert_eq!(verify(&removed).map_err(|b| b.seq), Err(2));

        // Inserted, even renumbered with a hash of its own: the next event's link no longer holds.
        let mut inserted = trail.clone();
        let mut forged = trail[1].clone();
        forged.actor = "forger".into();
        forged.hash = link(&trail[1].hash, &forged);
        inserted.insert(2, forged);
        for (i, e) in inserted.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        let broken = verify(&inserted).map_err(|b| b.seq);
        assert!(matches!(broken, Err(seq) if seq <= 4), "{broken:?}");

        // Re-hashing a changed event alone does not help: the next link breaks.
        let mut rehashed = trail.clone();
        rehashed[2].actor = "someone else".into();
        rehashed[2].hash = link(&rehashed[1].hash, &rehashed[2]);
        assert_eq!(verify(&rehashed).map_err(|b| b.seq), Err(4));
    }

    #[test]
    fn events_written_before_chaining_lead_the_trail_only() {
        let mut trail = chained(3);
        let mut old = trail[0].clone();
        old.hash.clear();
        // An unchained prefix of one event, then the chain starting over.
        let mut events = vec![old];
        let mut previous = String::new();
        for (i, e) in trail.iter_mut().enumerate() {
            e.seq = i as u64 + 2;
            e.hash = link(&previous, e);
            previous = e.hash.clone();
            events.push(e.clone());
        }
        assert_eq!(verify(&events).map(|v| v.unchained), Ok(1));
        events[2].hash.clear();
        assert!(verify(&events).is_err(), "a hash dropped inside the chain breaks it");
    }
}

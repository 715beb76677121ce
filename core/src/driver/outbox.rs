//! The event outbox: events go to the application's bounded stream at once when it has room;
//! otherwise they wait here, in order (and the driver stops reading from the socket while
//! they do, so that flow control reaches the server). Completions collected in one turn go
//! out as one event under `DeliveryEvents::Batched`.

use tokio::sync::mpsc;

use super::Driver;
use crate::Event;

impl Driver {
    /// Hand the completions collected in this turn over as one event.
    pub(super) fn emit_completions(&mut self) {
        if !self.completed.is_empty() {
            let batch = std::mem::take(&mut self.completed);
            self.emit(Event::PublishesComplete(batch));
        }
    }

    pub(super) fn emit(&mut self, event: Event) {
        if !self.events_open {
            self.completed.clear();
            return;
        }
        // Keep the order: completions collected before this event go first.
        if !self.completed.is_empty() && !matches!(event, Event::PublishesComplete(_)) {
            self.emit_completions();
        }
        if !self.outbox.is_empty() {
            // Keep the order: behind what already waits.
            self.outbox.push_back(event);
            return;
        }
        // The common case hands the event over at once, without another turn of the loop.
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => self.outbox.push_back(event),
            Err(mpsc::error::TrySendError::Closed(_)) => self.events_open = false,
        }
    }

    pub(super) fn deliver(&mut self, permit: Option<mpsc::Permit<'_, Event>>) {
        match permit {
            Some(permit) => {
                if let Some(ev) = self.outbox.pop_front() {
                    permit.send(ev);
                }
            }
            None => {
                // Nobody listens any more: stop collecting events.
                self.events_open = false;
                self.outbox.clear();
            }
        }
    }
}

/// Room for one event in the application's stream (None: nobody listens any more).
pub(super) async fn reserve(events: Option<&mpsc::Sender<Event>>) -> Option<mpsc::Permit<'_, Event>> {
    match events {
        Some(events) => events.reserve().await.ok(),
        None => std::future::pending().await,
    }
}

//! What requests answer: a flush tells the application how many deliveries completed since
//! the previous flush, and which failed (a failure is never silent: a flush that covers one
//! returns [`crate::Error::DeliveryFailed`] with this report); a subscribe answers with its
//! reason codes.

use crate::codec::{AckProperties, PacketId, SubAckReasonCode};

/// The answer to a subscribe: one reason code per filter, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeOutcome {
    pub reason_codes: Vec<SubAckReasonCode>,
    pub properties: AckProperties,
}

/// How many of the first failures a report names (the count covers them all).
pub(crate) const REPORTED_FAILURES: usize = 8;

/// One failed delivery, as a flush reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// The token of the publish (`Delivery::token`).
    pub token: u64,
    pub topic: String,
    /// The packet identifier it last had, if it was ever in flight.
    pub packet_id: Option<PacketId>,
    pub error: crate::Error,
}

/// Deliveries that ended since the previous flush.
///
/// ```no_run
/// # async fn f(client: tether_core::AsyncClient) {
/// match client.flush().await {
///     Ok(report) => println!("{} delivered", report.completed),
///     Err(tether_core::Error::DeliveryFailed(report)) => {
///         for f in &report.first_failures {
///             eprintln!("{} (packet {:?}): {}", f.topic, f.packet_id, f.error);
///         }
///     }
///     Err(e) => eprintln!("flush: {e}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Deliveries that completed successfully.
    pub completed: u64,
    /// Deliveries that failed.
    pub failed: u64,
    /// The first failures (at most 8), in the order they happened.
    pub first_failures: Vec<DeliveryFailure>,
}

impl FlushReport {
    pub(crate) fn note_success(&mut self) {
        self.completed += 1;
    }

    pub(crate) fn note_failure(&mut self, failure: DeliveryFailure) {
        self.failed += 1;
        if self.first_failures.len() < REPORTED_FAILURES {
            self.first_failures.push(failure);
        }
    }

    /// Ok when nothing failed, else the report as [`crate::Error::DeliveryFailed`].
    pub(crate) fn into_result(self) -> Result<FlushReport, crate::Error> {
        if self.failed == 0 {
            Ok(self)
        } else {
            Err(crate::Error::DeliveryFailed(Box::new(self)))
        }
    }
}

impl std::fmt::Display for FlushReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} deliveries failed", self.failed, self.failed + self.completed)?;
        if let Some(first) = self.first_failures.first() {
            let id = first.packet_id.map(|p| format!(", packet {p}")).unwrap_or_default();
            write!(f, "; first: {:?}{id}: {}", first.topic, first.error)?;
        }
        Ok(())
    }
}

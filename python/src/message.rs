//! A received message.

use std::sync::Weak;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tether_core::Message as CoreMessage;

use crate::errors;
use crate::props::{bytes_repr, payload_bytes, str_repr, PublishProperties};
use crate::shared::Shared;

/// A message received from the server (from `recv()`, `messages()` or `on_message`).
///
/// With `Client(manual_ack=True)`, call `ack()` once the message is processed: the client
/// acknowledges QoS 1/2 messages only then (and in the order they arrived, as MQTT requires),
/// so a message that was not processed is delivered again after a reconnect.
#[pyclass(module = "tether", frozen)]
pub struct Message {
    pub(crate) inner: CoreMessage,
    client: Weak<Shared>,
}

impl Message {
    pub(crate) fn new(inner: CoreMessage, client: Weak<Shared>) -> Self {
        Message { inner, client }
    }
}

#[pymethods]
impl Message {
    /// The topic name.
    #[getter]
    fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The payload, as bytes.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        payload_bytes(py, &self.inner.payload)
    }

    /// The QoS the message was delivered with (0, 1 or 2).
    #[getter]
    fn qos(&self) -> u8 {
        self.inner.qos as u8
    }

    /// True when the server sent this message before (a redelivery after a reconnect).
    #[getter]
    fn dup(&self) -> bool {
        self.inner.dup
    }

    /// True for a retained message sent because of a new subscription.
    #[getter]
    fn retain(&self) -> bool {
        self.inner.retain
    }

    /// The PUBLISH properties (content type, response topic, correlation data, user
    /// properties, message expiry, subscription identifiers, ...).
    #[getter]
    fn properties(&self) -> PublishProperties {
        PublishProperties::from_core(&self.inner.properties)
    }

    /// True when this message waits for `ack()` (manual acknowledgement of QoS 1/2).
    #[getter]
    fn needs_ack(&self) -> bool {
        self.inner.needs_ack()
    }

    /// Acknowledge the message (with `manual_ack=True`). Does nothing for messages that need no
    /// acknowledgement (QoS 0, or automatic acknowledgement). Never blocks.
    fn ack(&self, py: Python<'_>) -> PyResult<()> {
        let Some(ack_id) = self.inner.ack_id() else { return Ok(()) };
        let Some(client) = self.client.upgrade() else {
            return Err(errors::closed(py, "the client of this message is gone"));
        };
        client.core.ack_id(ack_id).map_err(|e| errors::to_py(py, &e))
    }

    fn __repr__(&self) -> String {
        format!(
            "Message(topic={}, payload={}, qos={}, dup={}, retain={})",
            str_repr(&self.inner.topic),
            bytes_repr(&self.inner.payload),
            self.inner.qos as u8,
            if self.inner.dup { "True" } else { "False" },
            if self.inner.retain { "True" } else { "False" },
        )
    }
}

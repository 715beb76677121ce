//! Enhanced authentication (4.12): the engine drives the AUTH exchange, an [`Authenticator`]
//! supplies the method-specific data.

use bytes::Bytes;

/// A pluggable enhanced-authentication method (SCRAM, Kerberos, a token exchange, ...).
///
/// The engine is synchronous and does no IO, so it calls these methods in the middle of
/// handling a packet; in a client that is on a runtime worker thread. They must return
/// quickly and never block (see [`crate::MqttOptions::set_authenticator`]).
///
/// ```
/// use bytes::Bytes;
/// use tether_core::session::Authenticator;
/// struct Token(Bytes);
/// impl Authenticator for Token {
///     fn method(&self) -> &str { "token" }
///     fn initial_data(&mut self) -> Option<Bytes> { Some(self.0.clone()) }
///     fn challenge(&mut self, _data: Option<&Bytes>) -> Result<Option<Bytes>, String> {
///         Err("token method has no second step".into())
///     }
/// }
/// ```
pub trait Authenticator: Send {
    /// The Authentication Method property, sent in CONNECT and in every AUTH.
    fn method(&self) -> &str;
    /// Authentication Data for CONNECT and for the AUTH that starts a re-authentication.
    fn initial_data(&mut self) -> Option<Bytes>;
    /// The server continued the exchange (AUTH 0x18) with `data`; answer with the next data, or
    /// refuse, and the engine closes the connection with DISCONNECT 0x87 Not authorized.
    fn challenge(&mut self, data: Option<&Bytes>) -> Result<Option<Bytes>, String>;
    /// The exchange succeeded (CONNACK or AUTH 0x00), with the server's final data if any.
    fn success(&mut self, _data: Option<&Bytes>) -> Result<(), String> {
        Ok(())
    }
}

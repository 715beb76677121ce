//! Topic aliases (3.3.2.3.4) in both directions. Both maps live for one network connection
//! only ([MQTT-3.3.2-7]): they are reset whenever a connection is opened.

use rustc_hash::FxHashMap as HashMap;

/// Aliases the server uses towards us: alias -> topic.
#[derive(Debug, Default)]
pub(crate) struct IncomingAliases {
    map: HashMap<u16, String>,
}

/// Why an incoming alias could not be resolved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AliasError {
    /// 0 or above our Topic Alias Maximum ([MQTT-3.3.2-9], [MQTT-3.3.2-10]): 0x94.
    OutOfRange,
    /// An empty topic with an alias we have never been told: Protocol Error 0x82.
    Unknown,
}

impl IncomingAliases {
    pub fn reset(&mut self) {
        self.map.clear();
    }

    /// Resolve (and learn) the topic of an incoming PUBLISH.
    pub fn resolve(
        &mut self,
        topic: &str,
        alias: Option<u16>,
        maximum: u16,
    ) -> Result<Option<String>, AliasError> {
        let Some(alias) = alias else { return Ok(None) };
        if alias == 0 || alias > maximum {
            return Err(AliasError::OutOfRange);
        }
        if topic.is_empty() {
            self.map.get(&alias).cloned().map(Some).ok_or(AliasError::Unknown)
        } else {
            self.map.insert(alias, topic.to_owned());
            Ok(None)
        }
    }
}

/// Aliases we assign towards the server: topic -> alias, first come first served until the
/// server's Topic Alias Maximum is used up ([MQTT-3.3.2-9]).
#[derive(Debug, Default)]
pub(crate) struct OutgoingAliases {
    map: HashMap<String, u16>,
    maximum: u16,
}

/// How a PUBLISH should name its topic on the wire.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AliasUse {
    /// No alias: full topic, no property.
    None,
    /// First use: full topic and the alias property, which teaches the server the mapping.
    Establish(u16),
    /// Known mapping: empty topic and the alias property.
    Reuse(u16),
}

impl OutgoingAliases {
    pub fn reset(&mut self, maximum: u16) {
        self.map.clear();
        self.maximum = maximum;
    }

    pub fn lookup(&mut self, topic: &str) -> AliasUse {
        if let Some(&alias) = self.map.get(topic) {
            return AliasUse::Reuse(alias);
        }
        if (self.map.len() as u16) < self.maximum {
            let alias = self.map.len() as u16 + 1;
            self.map.insert(topic.to_owned(), alias);
            return AliasUse::Establish(alias);
        }
        AliasUse::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_aliases_are_assigned_until_the_maximum() {
        let mut a = OutgoingAliases::default();
        a.reset(2);
        assert_eq!(a.lookup("a"), AliasUse::Establish(1));
        assert_eq!(a.lookup("a"), AliasUse::Reuse(1));
        assert_eq!(a.lookup("b"), AliasUse::Establish(2));
        assert_eq!(a.lookup("c"), AliasUse::None);
        a.reset(2);
        assert_eq!(a.lookup("b"), AliasUse::Establish(1));
    }

    #[test]
    fn incoming_aliases_resolve_and_reject() {
        let mut a = IncomingAliases::default();
        assert_eq!(a.resolve("t/1", Some(3), 10), Ok(None));
        assert_eq!(a.resolve("", Some(3), 10), Ok(Some("t/1".into())));
        assert_eq!(a.resolve("", Some(4), 10), Err(AliasError::Unknown));
        assert_eq!(a.resolve("x", Some(11), 10), Err(AliasError::OutOfRange));
        assert_eq!(a.resolve("x", Some(0), 10), Err(AliasError::OutOfRange));
    }
}

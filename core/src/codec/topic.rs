//! Topic names and topic filters (4.7): validation and matching.
//!
//! ```
//! use tether_core::codec::topic::{matches, validate_topic_filter, validate_topic_name};
//! assert!(validate_topic_name("sensors/1").is_ok());
//! assert!(validate_topic_filter("sensors/+/temp").is_ok());
//! assert!(matches("sensors/#", "sensors/1/temp"));
//! assert!(!matches("#", "$SYS/uptime"));
//! ```

/// The longest topic name or filter: a UTF-8 string of at most 65,535 bytes (1.5.4).
const MAX_TOPIC_LEN: usize = 65_535;

/// The prefix of a shared subscription's topic filter (4.8.2).
const SHARE_PREFIX: &str = "$share/";

/// Why a topic name or topic filter is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TopicError {
    /// Topic names and filters are at least one character long ([MQTT-4.7.3-1]).
    #[error("topic must not be empty")]
    Empty,
    /// Longer than a UTF-8 string can be (1.5.4).
    #[error("topic is longer than 65,535 bytes")]
    TooLong,
    /// Holds U+0000 ([MQTT-4.7.3-2]).
    #[error("topic must not contain the null character U+0000")]
    ContainsNul,
    /// A topic name holds `+` or `#` ([MQTT-3.3.2-2], [MQTT-4.7.0-1]).
    #[error("topic name must not contain wildcard '{0}'")]
    WildcardInName(char),
    /// `#` that is not alone in the last level ([MQTT-4.7.1-1]).
    #[error("multi-level wildcard '#' must be the last character and occupy a whole level")]
    MisplacedMultiLevelWildcard,
    /// `+` that does not occupy a whole level ([MQTT-4.7.1-2]).
    #[error("single-level wildcard '+' must occupy a whole level")]
    MisplacedSingleLevelWildcard,
    /// `$share//...` or `$share/` alone ([MQTT-4.8.2-1]).
    #[error("shared subscription needs a non-empty share name")]
    EmptyShareName,
    /// The share name holds `+` or `#` ([MQTT-4.8.2-2]).
    #[error("share name must not contain '/', '+' or '#'")]
    InvalidShareName,
    /// `$share/name` with no topic filter after the share name ([MQTT-4.8.2-2]).
    #[error("shared subscription needs a topic filter after the share name")]
    EmptySharedFilter,
}

fn check_common(topic: &str) -> Result<(), TopicError> {
    // [MQTT-4.7.3-1] at least one character long.
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    // [MQTT-4.7.3-3] a UTF-8 encoded string: at most 65,535 bytes.
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    // [MQTT-4.7.3-2] no U+0000.
    if topic.as_bytes().contains(&0) {
        return Err(TopicError::ContainsNul);
    }
    Ok(())
}

/// Checks a topic name, as used in PUBLISH, the Will and Response Topic: non-empty, at most
/// 65,535 bytes, no U+0000 and no wildcard.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    check_common(topic)?;
    // [MQTT-3.3.2-2] the topic name in a PUBLISH must not contain wildcard characters.
    if let Some(c) = topic.chars().find(|&c| c == '+' || c == '#') {
        return Err(TopicError::WildcardInName(c));
    }
    Ok(())
}

/// Checks a topic filter, as used in SUBSCRIBE and UNSUBSCRIBE, including shared
/// subscriptions (`$share/{ShareName}/{filter}`, 4.8.2).
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let filter = match filter.strip_prefix(SHARE_PREFIX) {
        Some(rest) => {
            let (name, inner) = match rest.split_once('/') {
                Some(parts) => parts,
                None if rest.is_empty() => return Err(TopicError::EmptyShareName),
                None => return Err(TopicError::EmptySharedFilter),
            };
            // [MQTT-4.8.2-1] the ShareName is at least one character long.
            if name.is_empty() {
                return Err(TopicError::EmptyShareName);
            }
            // [MQTT-4.8.2-2] the ShareName must not contain '/', '+' or '#'.
            if name.contains(['+', '#']) {
                return Err(TopicError::InvalidShareName);
            }
            // ... and it must be followed by a topic filter.
            if inner.is_empty() {
                return Err(TopicError::EmptySharedFilter);
            }
            inner
        }
        None => filter,
    };
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') {
            // [MQTT-4.7.1-1] '#' alone in its level and the last level.
            if level != "#" || levels.peek().is_some() {
                return Err(TopicError::MisplacedMultiLevelWildcard);
            }
        }
        // [MQTT-4.7.1-2] '+' occupies an entire level.
        if level.contains('+') && level != "+" {
            return Err(TopicError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

/// Strips a `$share/{ShareName}/` prefix, leaving the filter that is matched (4.8.2).
pub fn strip_share(filter: &str) -> &str {
    filter.strip_prefix(SHARE_PREFIX).and_then(|rest| rest.split_once('/')).map_or(filter, |(_, inner)| inner)
}

/// True when the topic name `topic` matches the topic filter `filter` (4.7).
///
/// A `$share/{ShareName}/` prefix is stripped first. Wildcards in the first level do not match
/// topics that start with `$` ([MQTT-4.7.2-1]). The filter is assumed valid (see
/// [`validate_topic_filter`]); an invalid one gives an unspecified answer but never panics.
pub fn matches(filter: &str, topic: &str) -> bool {
    let filter = strip_share(filter);
    // [MQTT-4.7.2-1] a filter starting with a wildcard must not match a topic starting with '$'.
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            // '#' matches its parent level and any number of child levels (4.7.1.2).
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert_eq!(validate_topic_name("a/b"), Ok(()));
        assert_eq!(validate_topic_name("/"), Ok(()));
        assert_eq!(validate_topic_name("$SYS/x"), Ok(()));
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_name("a/+"), Err(TopicError::WildcardInName('+')));
        assert_eq!(
            validate_topic_name("a/#").unwrap_err().to_string(),
            "topic name must not contain wildcard '#'"
        );
        assert_eq!(validate_topic_name("a\0"), Err(TopicError::ContainsNul));
        assert_eq!(validate_topic_name(&"a".repeat(65_536)), Err(TopicError::TooLong));
        assert_eq!(validate_topic_name(&"a".repeat(65_535)), Ok(()));
    }

    #[test]
    fn topic_filters() {
        for ok in [
            "#",
            "+",
            "a/#",
            "+/+",
            "/+",
            "a/+/b",
            "sport/tennis/#",
            "a//b",
            "$share/g/a/#",
            "$share/g/#",
            "$SYS/#",
        ] {
            assert_eq!(validate_topic_filter(ok), Ok(()), "{ok}");
        }
        use TopicError::*;
        for (bad, err) in [
            ("", Empty),
            ("a#", MisplacedMultiLevelWildcard),
            ("a/#/b", MisplacedMultiLevelWildcard),
            ("sport/tennis#", MisplacedMultiLevelWildcard),
            ("a+", MisplacedSingleLevelWildcard),
            ("sport+", MisplacedSingleLevelWildcard),
            ("a/+b/c", MisplacedSingleLevelWildcard),
            ("$share/", EmptyShareName),
            ("$share//a", EmptyShareName),
            ("$share/g", EmptySharedFilter),
            ("$share/g/", EmptySharedFilter),
            ("$share/g+/a", InvalidShareName),
            ("$share/#/a", InvalidShareName),
            ("$share/g/a#", MisplacedMultiLevelWildcard),
            ("a\0", ContainsNul),
        ] {
            assert_eq!(validate_topic_filter(bad), Err(err), "{bad:?}");
        }
    }

    #[test]
    fn matching_examples_from_the_spec() {
        // 4.7.1.2
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
        assert!(matches("sport/#", "sport"));
        assert!(matches("#", "a/b/c"));
        // 4.7.1.3
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(matches("sport/+", "sport/"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        // Exact and mismatching levels.
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        assert!(!matches("a/b", "A/b"));
        // 4.7.2 [MQTT-4.7.2-1]
        assert!(!matches("#", "$SYS/monitor/Clients"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
        // 4.8.2 shared subscriptions match like their inner filter.
        assert!(matches("$share/g/sport/#", "sport/tennis"));
        assert!(!matches("$share/g/#", "$SYS/x"));
        assert!(!matches("$share/g/a", "$share/g/a"));
        assert_eq!(strip_share("$share/g/a/b"), "a/b");
        assert_eq!(strip_share("a/b"), "a/b");
    }
}

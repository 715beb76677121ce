//! Topic names and topic filters (4.7): validation and matching.

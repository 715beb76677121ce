//! Data representations (1.5): two- and four-byte integers, variable byte integers, UTF-8
//! strings, binary data and string pairs.

//! Camera model (placeholder, filled by the foundation work).

//! (placeholder: see cmd/hll.rs)

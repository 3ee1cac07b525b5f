//! (placeholder: see cmd/geo.rs)

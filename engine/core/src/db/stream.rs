//! The stream value type: entries keyed by (ms, seq) IDs, consumer groups,
//! pending entry lists. (Being filled in; see cmd/stream.rs.)

use crate::digest::Digest;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct StreamVal {}

impl StreamVal {
    pub fn new() -> StreamVal {
        StreamVal::default()
    }

    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    pub fn heap_bytes(&self) -> usize {
        0
    }

    /// Redis's DEBUG DIGEST for a stream (xorObjectDigest, OBJ_STREAM).
    pub fn digest(&self, _d: &mut Digest) {}
}

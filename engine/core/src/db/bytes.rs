//! Compact byte strings for keys and string values: the per-key memory
//! layout (issue 4: memory per key at least as good as Redis's).
//!
//! - `ThinBytes`: one heap allocation `[len: u32 LE][bytes]` behind an 8-byte
//!   pointer (a `Box<[u8]>` is 16 bytes, a `Vec<u8>` 24). Immutable and
//!   exactly sized: with glibc's 16-byte chunk rounding a 100-byte value costs
//!   a 112-byte chunk, the same as Redis's sds under jemalloc.
//! - `KeyBytes`: keys up to `KEY_INLINE_MAX` bytes live inside the table
//!   entry itself (no allocation at all); longer keys are a `ThinBytes`.
//!
//! Invariants: a `ThinBytes` pointer always points at a live allocation made
//! with `layout(len)` whose first four bytes hold `len`; it is uniquely owned
//! (like `Box`), so `Send`/`Sync` follow from `[u8]`'s.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

/// Largest length a `ThinBytes` can hold (its header is a u32). Longer
/// strings (only possible with a raised proto-max-bulk-len) use `Vec`.
pub const THIN_LEN_MAX: usize = u32::MAX as usize;

pub struct ThinBytes(NonNull<u8>);

// SAFETY: ThinBytes uniquely owns its allocation, exactly like Box<[u8]>.
unsafe impl Send for ThinBytes {}
// SAFETY: shared access only reads the bytes, as with &[u8].
unsafe impl Sync for ThinBytes {}

const HDR: usize = 4;

fn layout(len: usize) -> Layout {
    // HDR + len cannot overflow isize: callers check len <= THIN_LEN_MAX.
    Layout::from_size_align(HDR + len, 4)
        .unwrap_or_else(|_| handle_alloc_error(Layout::new::<u32>()))
}

impl ThinBytes {
    /// None when `b` is longer than `THIN_LEN_MAX`.
    pub fn new(b: &[u8]) -> Option<ThinBytes> {
        if b.len() > THIN_LEN_MAX {
            return None;
        }
        let l = layout(b.len());
        // SAFETY: the layout has non-zero size (HDR > 0).
        let p = unsafe { alloc(l) };
        let Some(p) = NonNull::new(p) else {
            handle_alloc_error(l)
        };
        // SAFETY: p points at HDR + len writable bytes, 4-aligned.
        unsafe {
            p.as_ptr().cast::<u32>().write(b.len() as u32);
            std::ptr::copy_nonoverlapping(b.as_ptr(), p.as_ptr().add(HDR), b.len());
        }
        Some(ThinBytes(p))
    }

    #[inline]
    pub fn len(&self) -> usize {
        // SAFETY: the header is initialised by `new` and never changes.
        unsafe { self.0.as_ptr().cast::<u32>().read() as usize }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes requested from the allocator for this string.
    pub fn alloc_bytes(&self) -> usize {
        HDR + self.len()
    }
}

impl std::ops::Deref for ThinBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes follow the header for the
        // allocation's lifetime, which `&self` bounds.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(HDR), self.len()) }
    }
}

impl Drop for ThinBytes {
    fn drop(&mut self) {
        let l = layout(self.len());
        // SAFETY: allocated in `new` with this same layout; dropped once.
        unsafe { dealloc(self.0.as_ptr(), l) }
    }
}

impl Clone for ThinBytes {
    fn clone(&self) -> ThinBytes {
        match ThinBytes::new(self) {
            Some(t) => t,
            None => unreachable!("an existing ThinBytes fits its own header"),
        }
    }
}

impl std::fmt::Debug for ThinBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

impl PartialEq for ThinBytes {
    fn eq(&self, o: &ThinBytes) -> bool {
        **self == **o
    }
}

/// Keys this long or shorter are stored inside the table entry.
pub const KEY_INLINE_MAX: usize = 22;

/// A key: inline when short, else one thin heap allocation. 24 bytes.
#[derive(Clone)]
pub enum KeyBytes {
    Inline {
        len: u8,
        buf: [u8; KEY_INLINE_MAX],
    },
    Heap(ThinBytes),
    /// Keys longer than 4 GiB (never in practice: bounded by proto-max-bulk-len).
    Huge(Box<Vec<u8>>),
}

impl KeyBytes {
    pub fn new(k: &[u8]) -> KeyBytes {
        if k.len() <= KEY_INLINE_MAX {
            let mut buf = [0u8; KEY_INLINE_MAX];
            buf[..k.len()].copy_from_slice(k);
            KeyBytes::Inline {
                len: k.len() as u8,
                buf,
            }
        } else {
            match ThinBytes::new(k) {
                Some(t) => KeyBytes::Heap(t),
                None => KeyBytes::Huge(Box::new(k.to_vec())),
            }
        }
    }

    /// Heap bytes this key owns (requested sizes).
    pub fn heap_bytes(&self) -> usize {
        match self {
            KeyBytes::Inline { .. } => 0,
            KeyBytes::Heap(t) => crate::alloc::charged(t.alloc_bytes()),
            KeyBytes::Huge(v) => crate::alloc::charged(24) + crate::alloc::charged(v.capacity()),
        }
    }
}

impl std::ops::Deref for KeyBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, buf } => &buf[..*len as usize],
            KeyBytes::Heap(t) => t,
            KeyBytes::Huge(v) => v,
        }
    }
}

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_what_the_memory_budget_assumes() {
        assert_eq!(std::mem::size_of::<ThinBytes>(), 8);
        assert_eq!(std::mem::size_of::<KeyBytes>(), 24);
    }

    #[test]
    fn round_trips() {
        for n in [0usize, 1, 3, 4, 5, 22, 23, 100, 4096] {
            let v: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let t = ThinBytes::new(&v).unwrap_or_else(|| unreachable!());
            assert_eq!(&*t, &v[..]);
            assert_eq!(&*t.clone(), &v[..]);
            let k = KeyBytes::new(&v);
            assert_eq!(&*k, &v[..]);
            assert_eq!(matches!(k, KeyBytes::Inline { .. }), n <= KEY_INLINE_MAX);
        }
    }
}

//! DEBUG DIGEST / DIGEST-VALUE with Redis's exact algorithm (debug.c), so a
//! redsim dataset and a Redis dataset with the same contents print the same
//! 40 hex digits. The simulator and replica tests compare datasets with it.
//!
//! Per key: digest = mix(key) then xor_object(value, expiry); the dataset
//! digest xors SHA1 of each per-key digest (order-independent) after mixing
//! each database id.

use crate::db::table::NO_EXPIRE;
use crate::db::{Keyspace, Value};

pub type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// Redis's xorDigest: digest ^= SHA1(data).
pub fn xor_digest(d: &mut Digest, data: &[u8]) {
    let h = sha1(data);
    for (a, b) in d.iter_mut().zip(h) {
        *a ^= b;
    }
}

/// Redis's mixDigest: digest = SHA1(digest ^ SHA1(data)).
pub fn mix_digest(d: &mut Digest, data: &[u8]) {
    xor_digest(d, data);
    *d = sha1(d);
}

/// Redis's xorObjectDigest for one value (with its expiry flag).
pub fn object_digest(d: &mut Digest, val: &Value, expire_ms: i64) {
    mix_digest(d, &val.type_code().to_be_bytes());
    match val {
        Value::Int(n) => mix_digest(d, &crate::util::i64_bytes(*n)),
        Value::Small { .. } | Value::Str { .. } | Value::Raw(_) => {
            mix_digest(d, val.str_data().unwrap_or(&[]))
        }
        Value::Hash(h) => h.digest(d),
        Value::Set(s) => s.digest(d),
        Value::List(l) => l.digest(d),
        Value::ZSet(z) => z.digest(d),
        Value::Stream(x) => x.digest(d),
    }
    if expire_ms != NO_EXPIRE {
        xor_digest(d, b"!!expire!!");
    }
}

pub fn dataset_digest(ks: &Keyspace) -> Digest {
    let mut fin = [0u8; 20];
    for (j, db) in ks.dbs.iter().enumerate() {
        if db.table.is_empty() {
            continue;
        }
        mix_digest(&mut fin, &(j as u32).to_be_bytes());
        for e in db.table.iter() {
            let mut d = [0u8; 20];
            mix_digest(&mut d, &e.key);
            object_digest(&mut d, &e.val, db.table.expire_of_entry(e));
            xor_digest(&mut fin, &d);
        }
    }
    fin
}

pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

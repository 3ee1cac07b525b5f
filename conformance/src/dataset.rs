//! A dataset with every type and encoding, TTLs and several databases,
//! as commands applied identically to every server (explicit stream IDs,
//! no randomness): the RDB and replication interop tests use it.

/// The dataset: every type and encoding, TTLs, several databases. Applied
/// identically to every server (explicit stream IDs, no randomness).
pub fn every_type() -> Vec<Vec<Vec<u8>>> {
    let mut c: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut add = |args: &[&[u8]]| c.push(args.iter().map(|a| a.to_vec()).collect());
    add(&[b"SELECT", b"0"]);
    // Strings: int, int beyond 32 bits, embstr, raw, LZF-compressible,
    // incompressible, binary, big.
    add(&[b"SET", b"s:int", b"12345"]);
    add(&[b"SET", b"s:neg", b"-7"]);
    add(&[b"SET", b"s:i64", b"9223372036854775807"]);
    add(&[b"SET", b"s:i33", b"4294967296"]);
    add(&[b"SET", b"s:lead0", b"007"]);
    add(&[b"SET", b"s:emb", b"hello world"]);
    add(&[b"SET", b"s:raw", &[b'a'; 100]]);
    add(&[b"SET", b"s:lzf", &b"abcdefgh".repeat(500)]);
    let noise: Vec<u8> = (0..300u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    add(&[b"SET", b"s:noise", &noise]);
    add(&[b"SET", b"s:bin", b"\x00\xff\r\n\x01"]);
    add(&[b"APPEND", b"s:app", b"foo"]);
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| b"0123456789abcdef"[(i % 16) as usize])
        .collect();
    add(&[b"SET", b"s:big", &big]);
    add(&[b"SET", b"s:ttl", b"v", b"PX", b"500000"]);
    // Hashes.
    add(&[
        b"HSET",
        b"h:small",
        b"f1",
        b"v1",
        b"f2",
        b"2",
        b"f3",
        b"-3",
        b"n",
        b"9223372036854775807",
    ]);
    let mut hb: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"h:big".to_vec()];
    for i in 0..300 {
        hb.push(format!("field:{i}").into_bytes());
        hb.push(format!("value-{}", i * 7).into_bytes());
    }
    let hb_ref: Vec<&[u8]> = hb.iter().map(|x| &x[..]).collect();
    add(&hb_ref);
    add(&[b"HSET", b"h:longval", b"f", &[b'x'; 100]]);
    let mut hs: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"h:shrunk".to_vec()];
    for i in 0..200 {
        hs.push(format!("f{i}").into_bytes());
        hs.push(b"v".to_vec());
    }
    let hs_ref: Vec<&[u8]> = hs.iter().map(|x| &x[..]).collect();
    add(&hs_ref);
    for i in 1..200 {
        add(&[b"HDEL", b"h:shrunk", format!("f{i}").as_bytes()]);
    }
    add(&[b"HSET", b"h:ttl", b"a", b"b"]);
    add(&[b"PEXPIRE", b"h:ttl", b"900000"]);
    // Sets.
    add(&[b"SADD", b"set:i16", b"1", b"2", b"3", b"-4"]);
    add(&[b"SADD", b"set:i32", b"1", b"70000", b"-70000"]);
    add(&[
        b"SADD",
        b"set:i64",
        b"1",
        b"5000000000",
        b"-9223372036854775808",
    ]);
    add(&[b"SADD", b"set:str", b"a", b"b", b"c", b"1"]);
    let mut sb: Vec<Vec<u8>> = vec![b"SADD".to_vec(), b"set:bigint".to_vec()];
    for i in 0..600 {
        sb.push((i * 3).to_string().into_bytes());
    }
    let sb_ref: Vec<&[u8]> = sb.iter().map(|x| &x[..]).collect();
    add(&sb_ref);
    add(&[b"SADD", b"set:shrunk", b"x", b"1", b"2"]);
    add(&[b"SREM", b"set:shrunk", b"x"]);
    // Sorted sets.
    add(&[
        b"ZADD", b"z:small", b"1", b"a", b"2.5", b"b", b"-3", b"c", b"inf", b"d", b"-inf", b"e",
        b"0.1", b"f",
    ]);
    let mut zb: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"z:big".to_vec()];
    for i in 0..300 {
        zb.push(format!("{}", f64::from(i) / 3.0).into_bytes());
        zb.push(format!("member:{i}").into_bytes());
    }
    let zb_ref: Vec<&[u8]> = zb.iter().map(|x| &x[..]).collect();
    add(&zb_ref);
    add(&[b"ZADD", b"z:long", b"1", &[b'm'; 100]]);
    let mut zs = zb.clone();
    zs[1] = b"z:shrunk".to_vec();
    let zs_ref: Vec<&[u8]> = zs.iter().map(|x| &x[..]).collect();
    add(&zs_ref);
    add(&[b"ZREMRANGEBYRANK", b"z:shrunk", b"0", b"-4"]);
    // Lists.
    add(&[
        b"RPUSH",
        b"l:small",
        b"a",
        b"1",
        b"-2",
        b"3.5",
        b"",
        b"9223372036854775807",
        b"-4097",
        b"007",
    ]);
    let mut lb: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"l:big".to_vec()];
    for i in 0..5000 {
        lb.push(if i % 3 == 0 {
            i.to_string().into_bytes()
        } else {
            format!("element-{i}").into_bytes()
        });
    }
    let lb_ref: Vec<&[u8]> = lb.iter().map(|x| &x[..]).collect();
    add(&lb_ref);
    add(&[
        b"RPUSH",
        b"l:bigitems",
        &[b'q'; 10000],
        &[b'r'; 5000],
        b"s",
        &[b't'; 70000],
    ]);
    // Streams: several nodes, deletions, groups, PELs, consumers.
    for i in 1..=250u64 {
        let id = format!("{}-{}", 1_000_000 + i, i % 3);
        let v = format!("{}", i * 11);
        if i % 10 == 0 {
            add(&[b"XADD", b"st", id.as_bytes(), b"other", v.as_bytes()]);
        } else {
            add(&[
                b"XADD",
                b"st",
                id.as_bytes(),
                b"temp",
                v.as_bytes(),
                b"name",
                b"sensor-a",
            ]);
        }
    }
    for i in [5u64, 6, 7, 120] {
        let id = format!("{}-{}", 1_000_000 + i, i % 3);
        add(&[b"XDEL", b"st", id.as_bytes()]);
    }
    add(&[b"XGROUP", b"CREATE", b"st", b"g1", b"0"]);
    add(&[
        b"XREADGROUP",
        b"GROUP",
        b"g1",
        b"alice",
        b"COUNT",
        b"5",
        b"STREAMS",
        b"st",
        b">",
    ]);
    add(&[
        b"XREADGROUP",
        b"GROUP",
        b"g1",
        b"bob",
        b"COUNT",
        b"3",
        b"STREAMS",
        b"st",
        b">",
    ]);
    add(&[b"XACK", b"st", b"g1", b"1000002-2"]);
    add(&[b"XGROUP", b"CREATE", b"st", b"g2", b"$"]);
    add(&[b"XGROUP", b"CREATECONSUMER", b"st", b"g2", b"carol"]);
    add(&[b"XADD", b"st:empty", b"5-5", b"a", b"b"]);
    add(&[b"XDEL", b"st:empty", b"5-5"]);
    add(&[b"XADD", b"st:trim", b"1-1", b"a", b"1"]);
    for i in 2..=30 {
        add(&[
            b"XADD",
            b"st:trim",
            format!("{i}-0").as_bytes(),
            b"a",
            i.to_string().as_bytes(),
        ]);
    }
    add(&[b"XTRIM", b"st:trim", b"MAXLEN", b"7"]);
    add(&[b"SELECT", b"3"]);
    add(&[b"SET", b"db3:k", b"v3"]);
    add(&[b"LPUSH", b"db3:l", b"x", b"y"]);
    add(&[b"SELECT", b"15"]);
    add(&[b"HSET", b"db15:h", b"a", b"1"]);
    add(&[b"SET", b"db15:ttl", b"x", b"EX", b"1000"]);
    add(&[b"SELECT", b"0"]);
    c
}

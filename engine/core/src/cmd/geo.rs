//! The geo group: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH(STORE) and the
//! GEORADIUS family, over sorted sets whose scores are Redis's 52-bit
//! geohashes (math in `db/geohash.rs`). Semantics, argument parsing order,
//! error texts, reply shapes and result order follow Redis 7.0's geo.c:
//! searches scan the 3x3 block of geohash cells in Redis's order (centre,
//! N, S, E, W, NE, NW, SE, SW), each cell in zset order, so unsorted replies
//! come out as Redis's do; ASC/DESC use a stable sort (glibc's qsort is a
//! merge sort) or Redis's own partial quicksort when COUNT cuts the result.
//! Keyspace effects: GEOADD behaves as the ZADD it rewrites itself into
//! ("zadd" event); STORE variants write a fresh zset ("georadiusstore" /
//! "geosearchstore") or delete the destination ("del") when nothing matched.

use std::cmp::Ordering;
use std::collections::HashSet;

use super::{arg_i64, notify, Ctx};
use crate::db::geohash::{self, Shape, ShapeKind};
use crate::db::zset::{Limits, ScoreRange, ZSetVal};
use crate::db::Value;
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::util::eq_ic;

fn limits(ctx: &Ctx) -> Limits {
    Limits {
        entries: ctx.cfg.zset_max_listpack_entries,
        value: ctx.cfg.zset_max_listpack_value,
    }
}

fn is_zset(v: &Value) -> bool {
    matches!(v, Value::ZSet(_))
}

/// The zset at entry `i` of the current db (the caller checked the type).
fn zset_at<'a>(ctx: &'a Ctx, i: u32) -> Option<&'a ZSetVal> {
    match &ctx.ks.entry(ctx.db, i).val {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

/// Redis compares option names with strcasecmp on the C string, which stops
/// at the first NUL byte: "withdist\0x" is WITHDIST there too.
fn opt_is(arg: &[u8], name: &str) -> bool {
    let end = arg.iter().position(|&c| c == 0).unwrap_or(arg.len());
    eq_ic(&arg[..end], name)
}

/// getDoubleFromObject: strtod over the whole string, NaN refused.
fn parse_double(a: &[u8]) -> Option<f64> {
    crate::float::parse_f64(a).filter(|v| !v.is_nan())
}

/// extractLongLatOrReply.
fn extract_long_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], CmdError> {
    let x = parse_double(lon).ok_or(CmdError::NotFloat)?;
    let y = parse_double(lat).ok_or(CmdError::NotFloat)?;
    if x < geohash::LONG_MIN
        || x > geohash::LONG_MAX
        || y < geohash::LAT_MIN
        || y > geohash::LAT_MAX
    {
        return Err(CmdError::msg(format!(
            "ERR invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok([x, y])
}

/// extractUnitOrReply: metres per unit.
fn extract_unit(u: &[u8]) -> Result<f64, CmdError> {
    if opt_is(u, "m") {
        Ok(1.0)
    } else if opt_is(u, "km") {
        Ok(1000.0)
    } else if opt_is(u, "ft") {
        Ok(0.3048)
    } else if opt_is(u, "mi") {
        Ok(1609.34)
    } else {
        Err(CmdError::msg(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// extractDistanceOrReply: (conversion, radius in units).
fn extract_distance(radius: &[u8], unit: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = parse_double(radius).ok_or_else(|| CmdError::msg("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::msg("ERR radius cannot be negative"));
    }
    Ok((extract_unit(unit)?, r))
}

/// extractBoxOrReply: (conversion, width, height in units).
fn extract_box(w: &[u8], h: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let w = parse_double(w).ok_or_else(|| CmdError::msg("ERR need numeric width"))?;
    let h = parse_double(h).ok_or_else(|| CmdError::msg("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(CmdError::msg("ERR height or width cannot be negative"));
    }
    Ok((extract_unit(unit)?, w, h))
}

/// Position of `member` in the zset at entry `i` (longLatFromMember).
fn member_pos(ctx: &Ctx, i: u32, member: &[u8]) -> Option<[f64; 2]> {
    zset_at(ctx, i)?
        .score(member)
        .and_then(geohash::decode_score)
}

/// addReplyDoubleDistance: "%.4f" as a bulk string in both protocols.
fn reply_distance(out: &mut Reply, d: f64) {
    out.bulk(format!("{d:.4}").as_bytes());
}

/// ld2string(LD_STR_HUMAN): "%.17Lf" with trailing zeros (and a trailing
/// dot) removed; "-0" becomes "0". The long double holds the double exactly,
/// and Rust's fixed-precision formatting is exact with ties to even, like glibc.
fn human_double(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(t);
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// addReplyHumanLongDouble: a bulk string in RESP2, a double in RESP3.
fn reply_human(out: &mut Reply, v: f64) {
    let s = human_double(v);
    if out.resp3 {
        out.buf.push(b',');
        out.buf.extend_from_slice(s.as_bytes());
        out.buf.extend_from_slice(b"\r\n");
    } else {
        out.bulk(s.as_bytes());
    }
}

// ---------------------------------------------------------------- GEOADD

/// GEOADD key [NX|XX] [CH] lon lat member [...]: Redis rewrites it into
/// ZADD key [opts] score member ..., so this mirrors ZADD's effects.
pub fn geoadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut longidx = 2;
    while longidx < argv.len() {
        let opt = argv[longidx];
        if opt_is(opt, "nx") {
            nx = true;
        } else if opt_is(opt, "xx") {
            xx = true;
        } else if opt_is(opt, "ch") {
            ch = true;
        } else {
            break;
        }
        longidx += 1;
    }
    let rest = argv.get(longidx..).unwrap_or(&[]);
    // No triples at all: ZADD's own "elements % 2 || !elements" check.
    if rest.len() % 3 != 0 || (xx && nx) || rest.is_empty() {
        return Err(CmdError::Syntax);
    }
    let mut pairs: Vec<(f64, &[u8])> = Vec::with_capacity(rest.len() / 3);
    for t in rest.chunks_exact(3) {
        let xy = extract_long_lat(t[0], t[1])?;
        let bits = geohash::encode_score(xy[0], xy[1]).unwrap_or(0);
        pairs.push((bits as f64, t[2]));
    }
    let key = argv[1];
    let db = ctx.db;
    let lim = limits(ctx);
    let i = match super::lookup_typed(ctx, key, true, is_zset)? {
        Some(i) => i,
        None => {
            if xx {
                ctx.out.int(0);
                return Ok(());
            }
            let i = ctx.ks.add(db, key, Value::ZSet(Box::new(ZSetVal::new())));
            // dbAdd does not count as a change; ZADD counts its elements.
            ctx.ks.dirty = ctx.ks.dirty.saturating_sub(1);
            i
        }
    };
    let (mut added, mut updated) = (0u64, 0u64);
    if let Value::ZSet(z) = &mut ctx.ks.entry_mut(db, i).val {
        for (score, m) in pairs {
            match z.score(m) {
                Some(cur) => {
                    if !nx && cur != score {
                        z.set(m, score, lim);
                        updated += 1;
                    }
                }
                None => {
                    if !xx {
                        z.set(m, score, lim);
                        added += 1;
                    }
                }
            }
        }
    }
    ctx.out
        .int((if ch { added + updated } else { added }) as i64);
    if added + updated > 0 {
        ctx.ks.signal_modified(db, key);
        ctx.notify(notify::ZSET, "zadd", key);
    }
    ctx.ks.dirty += added + updated;
    Ok(())
}

// ---------------------------------------------------------------- GEOPOS / GEOHASH / GEODIST

pub fn geopos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let zi = super::lookup_typed(ctx, argv[1], false, is_zset)?;
    let members = argv.get(2..).unwrap_or(&[]);
    let pos: Vec<Option<[f64; 2]>> = members
        .iter()
        .map(|m| zi.and_then(|i| member_pos(ctx, i, m)))
        .collect();
    let out = &mut *ctx.out;
    out.array(pos.len());
    for p in pos {
        match p {
            Some([x, y]) => {
                out.array(2);
                reply_human(out, x);
                reply_human(out, y);
            }
            None => out.null_array(),
        }
    }
    Ok(())
}

pub fn geohash(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let zi = super::lookup_typed(ctx, argv[1], false, is_zset)?;
    let members = argv.get(2..).unwrap_or(&[]);
    let hashes: Vec<Option<[u8; 11]>> = members
        .iter()
        .map(|m| {
            zi.and_then(|i| member_pos(ctx, i, m))
                .map(geohash::standard_geohash)
        })
        .collect();
    let out = &mut *ctx.out;
    out.array(hashes.len());
    for h in hashes {
        match h {
            Some(h) => out.bulk(&h),
            None => out.null(),
        }
    }
    Ok(())
}

pub fn geodist(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let to_meter = match argv.len() {
        5 => extract_unit(argv[4])?,
        n if n > 5 => return Err(CmdError::Syntax),
        _ => 1.0,
    };
    let Some(i) = super::lookup_typed(ctx, argv[1], false, is_zset)? else {
        ctx.out.null();
        return Ok(());
    };
    let (a, b) = (member_pos(ctx, i, argv[2]), member_pos(ctx, i, argv[3]));
    match (a, b) {
        (Some(a), Some(b)) => reply_distance(
            ctx.out,
            geohash::distance(a[0], a[1], b[0], b[1]) / to_meter,
        ),
        _ => ctx.out.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------- searches

const RADIUS_COORDS: u32 = 1 << 0;
const RADIUS_MEMBER: u32 = 1 << 1;
const RADIUS_NOSTORE: u32 = 1 << 2;
const GEOSEARCH: u32 = 1 << 3;
const GEOSEARCHSTORE: u32 = 1 << 4;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A match (Redis's geoPoint).
struct GeoPoint {
    lon: f64,
    lat: f64,
    dist: f64,
    score: f64,
    member: Vec<u8>,
}

/// membersOfAllNeighbors: the points of the 9 cells that lie in `shape`,
/// cell by cell in Redis's order, each cell in zset order; `limit` > 0 stops
/// as soon as that many matched (ANY).
fn points_in_shape(z: &ZSetVal, shape: &Shape, limit: usize) -> Vec<GeoPoint> {
    let radius = geohash::calculate_areas_by_shape_wgs84(shape);
    let cells = radius.cells();
    let mut ga: Vec<GeoPoint> = Vec::new();
    let full = |ga: &Vec<GeoPoint>| !ga.is_empty() && limit > 0 && ga.len() >= limit;
    let mut last_processed = 0usize;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // With huge radii adjacent cells can coincide: skip a repeat of the
        // cell processed just before (never of the centre, as in Redis).
        if last_processed != 0 && cells.get(last_processed) == Some(cell) {
            continue;
        }
        if full(&ga) {
            break;
        }
        let (min, max) = geohash::scores_of_box(*cell);
        let (a, b) = z.score_span(&ScoreRange {
            min,
            max,
            minex: false,
            maxex: true,
        });
        for (score, m) in z.range(a, b) {
            if let Some(xy) = geohash::decode_score(score) {
                if let Some(dist) = geohash::distance_in_shape(shape, xy) {
                    ga.push(GeoPoint {
                        lon: xy[0],
                        lat: xy[1],
                        dist,
                        score,
                        member: m.to_vec(),
                    });
                }
            }
            if full(&ga) {
                break;
            }
        }
        last_processed = i;
    }
    ga
}

/// georadiusGeneric: every search command. `src` is the source key's index.
fn georadius_generic(ctx: &mut Ctx, argv: &[&[u8]], src: usize, flags: u32) -> CmdResult {
    let min_args = if flags & RADIUS_COORDS != 0 {
        6
    } else if flags & RADIUS_MEMBER != 0 {
        5
    } else {
        src + 1
    };
    if argv.len() < min_args {
        return Err(CmdError::Syntax);
    }
    let zi = super::lookup_typed(ctx, argv[src], false, is_zset)?;
    let geosearch = flags & GEOSEARCH != 0;
    let mut storekey: Option<&[u8]> = None;
    let mut storedist = false;
    let mut xy = [0.0f64; 2];
    let mut conversion = 0.0f64;
    let mut kind: Option<ShapeKind> = None;
    let base;
    if flags & RADIUS_COORDS != 0 {
        base = 6;
        xy = extract_long_lat(argv[2], argv[3])?;
        let (c, r) = extract_distance(argv[4], argv[5])?;
        conversion = c;
        kind = Some(ShapeKind::Circle { radius: r });
    } else if flags & RADIUS_MEMBER != 0 {
        base = 5;
        // Without a source key Redis skips the member and radius entirely
        // and only parses the options (to pick the reply).
        if let Some(i) = zi {
            xy = member_pos(ctx, i, argv[2])
                .ok_or_else(|| CmdError::msg("ERR could not decode requested zset member"))?;
            let (c, r) = extract_distance(argv[3], argv[4])?;
            conversion = c;
            kind = Some(ShapeKind::Circle { radius: r });
        }
    } else {
        base = if flags & GEOSEARCHSTORE != 0 {
            storekey = Some(argv[1]);
            3
        } else {
            2
        };
    }

    let (mut withdist, mut withhash, mut withcoords) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let opts = argv.get(base..).unwrap_or(&[]);
    let remaining = opts.len();
    let mut i = 0;
    while i < remaining {
        let arg = opts[i];
        let nxt = |k: usize| opts.get(i + k).copied().unwrap_or(b"");
        if opt_is(arg, "withdist") {
            withdist = true;
        } else if opt_is(arg, "withhash") {
            withhash = true;
        } else if opt_is(arg, "withcoord") {
            withcoords = true;
        } else if opt_is(arg, "any") {
            any = true;
        } else if opt_is(arg, "asc") {
            sort = Sort::Asc;
        } else if opt_is(arg, "desc") {
            sort = Sort::Desc;
        } else if opt_is(arg, "count") && i + 1 < remaining {
            count = arg_i64(nxt(1))?;
            if count <= 0 {
                return Err(CmdError::msg("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if opt_is(arg, "store")
            && i + 1 < remaining
            && flags & RADIUS_NOSTORE == 0
            && !geosearch
        {
            storekey = Some(nxt(1));
            storedist = false;
            i += 1;
        } else if opt_is(arg, "storedist")
            && i + 1 < remaining
            && flags & RADIUS_NOSTORE == 0
            && !geosearch
        {
            storekey = Some(nxt(1));
            storedist = true;
            i += 1;
        } else if opt_is(arg, "storedist") && geosearch && flags & GEOSEARCHSTORE != 0 {
            storedist = true;
        } else if opt_is(arg, "frommember") && i + 1 < remaining && geosearch && !fromloc {
            if let Some(zi) = zi {
                xy = member_pos(ctx, zi, nxt(1))
                    .ok_or_else(|| CmdError::msg("ERR could not decode requested zset member"))?;
            }
            frommember = true;
            i += 1;
        } else if opt_is(arg, "fromlonlat") && i + 2 < remaining && geosearch && !frommember {
            xy = extract_long_lat(nxt(1), nxt(2))?;
            fromloc = true;
            i += 2;
        } else if opt_is(arg, "byradius") && i + 2 < remaining && geosearch && !bybox {
            let (c, r) = extract_distance(nxt(1), nxt(2))?;
            conversion = c;
            kind = Some(ShapeKind::Circle { radius: r });
            byradius = true;
            i += 2;
        } else if opt_is(arg, "bybox") && i + 3 < remaining && geosearch && !byradius {
            let (c, w, h) = extract_box(nxt(1), nxt(2), nxt(3))?;
            conversion = c;
            kind = Some(ShapeKind::Box {
                width: w,
                height: h,
            });
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }

    if storekey.is_some() && (withdist || withhash || withcoords) {
        return Err(CmdError::msg(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if flags & GEOSEARCHSTORE != 0 {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    // Redis names the command as the client typed it.
    let name = String::from_utf8_lossy(argv[0]);
    if geosearch && !(frommember || fromloc) {
        return Err(CmdError::msg(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if geosearch && !(byradius || bybox) {
        return Err(CmdError::msg(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(CmdError::msg(
            "ERR the ANY argument requires COUNT argument",
        ));
    }

    let db = ctx.db;
    let (Some(zi), Some(kind)) = (zi, kind) else {
        // No source key: an empty reply, or the destination is dropped.
        match storekey {
            Some(dst) => {
                if ctx.ks.delete(db, dst) {
                    ctx.notify(notify::GENERIC, "del", dst);
                }
                ctx.out.int(0);
            }
            None => ctx.out.array(0),
        }
        return Ok(());
    };

    // COUNT without an order means the closest N (but not with ANY).
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        xy,
        conversion,
        kind,
    };
    let limit = if any {
        usize::try_from(count).unwrap_or(usize::MAX)
    } else {
        0
    };
    let mut ga = match zset_at(ctx, zi) {
        Some(z) => points_in_shape(z, &shape, limit),
        None => Vec::new(),
    };
    if ga.is_empty() && storekey.is_none() {
        ctx.out.array(0);
        return Ok(());
    }
    let len = ga.len();
    let returned = match usize::try_from(count) {
        Ok(c) if c != 0 && c < len => c,
        _ => len,
    };

    if sort != Sort::None {
        let cmp: &dyn Fn(&GeoPoint, &GeoPoint) -> Ordering = if sort == Sort::Asc {
            &|a, b| geohash::cmp_dist(a.dist, b.dist)
        } else {
            &|a, b| geohash::cmp_dist(a.dist, b.dist).reverse()
        };
        if returned == len {
            // glibc's qsort is a merge sort: stable, like sort_by.
            ga.sort_by(cmp);
        } else {
            crate::pqsort::pqsort(&mut ga, 0, returned as i64 - 1, &cmp);
        }
    }
    ga.truncate(returned);

    match storekey {
        None => {
            let option_length =
                usize::from(withdist) + usize::from(withcoords) + usize::from(withhash);
            let out = &mut *ctx.out;
            out.array(returned);
            for gp in &ga {
                let dist = gp.dist / conversion;
                if option_length > 0 {
                    out.array(option_length + 1);
                }
                out.bulk(&gp.member);
                if withdist {
                    reply_distance(out, dist);
                }
                if withhash {
                    // (long long)score: found scores are within [0, 2^53).
                    out.int(gp.score as i64);
                }
                if withcoords {
                    out.array(2);
                    reply_human(out, gp.lon);
                    reply_human(out, gp.lat);
                }
            }
        }
        Some(dst) => {
            let mut seen: HashSet<&[u8]> = HashSet::with_capacity(ga.len());
            let mut items: Vec<(f64, Box<[u8]>)> = Vec::with_capacity(ga.len());
            for gp in &ga {
                // A member can only match once; guard the zset invariant anyway.
                if seen.insert(&gp.member) {
                    let score = if storedist {
                        gp.dist / conversion
                    } else {
                        gp.score
                    };
                    items.push((score, gp.member.clone().into_boxed_slice()));
                }
            }
            if returned > 0 {
                let z = ZSetVal::from_items(items, limits(ctx));
                ctx.ks.set(db, dst, Value::ZSet(Box::new(z)), false);
                // setKey counted 1; Redis counts the stored elements.
                ctx.ks.dirty += returned as u64 - 1;
                let event = if geosearch {
                    "geosearchstore"
                } else {
                    "georadiusstore"
                };
                ctx.notify(notify::ZSET, event, dst);
            } else if ctx.ks.delete(db, dst) {
                ctx.notify(notify::GENERIC, "del", dst);
            }
            ctx.out.int(returned as i64);
        }
    }
    Ok(())
}

pub fn georadius(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 1, RADIUS_COORDS)
}

pub fn georadius_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 1, RADIUS_COORDS | RADIUS_NOSTORE)
}

pub fn georadiusbymember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 1, RADIUS_MEMBER)
}

pub fn georadiusbymember_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 1, RADIUS_MEMBER | RADIUS_NOSTORE)
}

pub fn geosearch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 1, GEOSEARCH)
}

pub fn geosearchstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 2, GEOSEARCH | GEOSEARCHSTORE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_doubles_like_ld2string() {
        assert_eq!(human_double(13.361389338970184), "13.36138933897018433");
        assert_eq!(human_double(180.0), "180");
        assert_eq!(human_double(-0.0), "0");
        assert_eq!(human_double(0.5), "0.5");
    }

    #[test]
    fn options_stop_at_nul() {
        assert!(opt_is(b"WithDist\0junk", "withdist"));
        assert!(!opt_is(b"withdis", "withdist"));
        assert_eq!(extract_unit(b"KM"), Ok(1000.0));
        assert!(extract_unit(b"kmx").is_err());
    }

    #[test]
    fn invalid_pair_text() {
        assert_eq!(
            extract_long_lat(b"200", b"100")
                .err()
                .map(|e| e.text().into_owned()),
            Some("ERR invalid longitude,latitude pair 200.000000,100.000000".to_string())
        );
        assert_eq!(
            extract_long_lat(b"1", b"inf")
                .err()
                .map(|e| e.text().into_owned()),
            Some("ERR invalid longitude,latitude pair 1.000000,inf".to_string())
        );
    }
}

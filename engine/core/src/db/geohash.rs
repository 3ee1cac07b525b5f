//! Geohash math for the geo commands: a port of Redis 7.0's `geohash.c` and
//! `geohash_helper.c`, kept bit-for-bit faithful because results, distances
//! and hashes must match Redis to the printed digit.
//!
//! Representation: a position is a 52-bit interleaved geohash (26 bits of
//! latitude on even bit positions, 26 of longitude on odd ones) over
//! longitude -180..180 and latitude -85.05112878..85.05112878 (the
//! EPSG:900913 limits); the zset score is that integer as a double.
//! Invariants: every floating-point expression is evaluated in the same
//! order as the C code (no reassociation), and the trig functions come from
//! the platform libm, as Redis's do, so results are identical. Nothing here
//! panics on any input (scores and coordinates from clients included).

use std::cmp::Ordering;

pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate of a stored score (Redis's GEO_STEP_MAX).
pub const STEP_MAX: u8 = 26;
/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
/// Redis's `D_R` macro (M_PI / 180.0), folded the same way by both compilers.
const D_R: f64 = std::f64::consts::PI / 180.0;

#[inline]
fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

#[inline]
fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A geohash cell: `step` bits per coordinate, `bits` interleaved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// Redis's HASHISZERO: the marker of an excluded neighbour.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    fn is_zero(&self) -> bool {
        self.min == 0.0 && self.max == 0.0
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Area {
    pub hash: HashBits,
    pub longitude: Range,
    pub latitude: Range,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Neighbors {
    pub north: HashBits,
    pub east: HashBits,
    pub west: HashBits,
    pub south: HashBits,
    pub north_east: HashBits,
    pub south_east: HashBits,
    pub north_west: HashBits,
    pub south_west: HashBits,
}

/// The centre cell, its 8 neighbours (some zeroed when useless) and the
/// centre cell's area (Redis's GeoHashRadius).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HashRadius {
    pub hash: HashBits,
    pub area: Area,
    pub neighbors: Neighbors,
}

impl HashRadius {
    /// The 9 cells in the order Redis searches them.
    pub fn cells(&self) -> [HashBits; 9] {
        let n = &self.neighbors;
        [
            self.hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ]
    }
}

/// The search area: a circle (radius) or an axis-aligned box (width,
/// height), both in `conversion` units (metres per unit), centred on `xy`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Circle { radius: f64 },
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub xy: [f64; 2],
    pub conversion: f64,
    pub kind: ShapeKind,
}

const B: [u64; 6] = [
    0x5555555555555555,
    0x3333333333333333,
    0x0F0F0F0F0F0F0F0F,
    0x00FF00FF00FF00FF,
    0x0000FFFF0000FFFF,
    0x00000000FFFFFFFF,
];

/// Bits of `xlo` on even positions, bits of `ylo` on odd ones.
fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = u64::from(xlo);
    let mut y = u64::from(ylo);
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// Inverse of `interleave64`: even bits in the low word, odd in the high.
fn deinterleave64(interleaved: u64) -> u64 {
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// The coordinate ranges of stored scores.
pub fn coord_range() -> (Range, Range) {
    (
        Range {
            min: LONG_MIN,
            max: LONG_MAX,
        },
        Range {
            min: LAT_MIN,
            max: LAT_MAX,
        },
    )
}

/// Redis's geohashEncode. None where Redis returns 0 (bad step, position
/// outside the supported limits or outside the given ranges).
pub fn encode(
    long_range: Range,
    lat_range: Range,
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<HashBits> {
    if step > 32 || step == 0 || lat_range.is_zero() || long_range.is_zero() {
        return None;
    }
    if lon > LONG_MAX || lon < LONG_MIN || lat > LAT_MAX || lat < LAT_MIN {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < long_range.min || lon > long_range.max {
        return None;
    }
    let mut lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (lon - long_range.min) / (long_range.max - long_range.min);
    let scale = (1u64 << step) as f64;
    lat_offset *= scale;
    long_offset *= scale;
    // C converts double -> uint32_t; the offsets are within [0, 2^step].
    Some(HashBits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    let (lo, la) = coord_range();
    encode(lo, la, lon, lat, step)
}

/// Redis's geohashDecode: the cell's bounds.
pub fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() || lat_range.is_zero() || long_range.is_zero() || hash.step > 32 {
        return None;
    }
    let step = hash.step;
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << step) as f64;
    // `(ilato + 1)` is uint32_t arithmetic in C: it wraps.
    Some(Area {
        hash,
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) * 1.0 / div) * lat_scale,
            max: lat_range.min + (f64::from(ilato.wrapping_add(1)) * 1.0 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(ilono) * 1.0 / div) * long_scale,
            max: long_range.min + (f64::from(ilono.wrapping_add(1)) * 1.0 / div) * long_scale,
        },
    })
}

pub fn decode_wgs84(hash: HashBits) -> Option<Area> {
    let (lo, la) = coord_range();
    decode(lo, la, hash)
}

/// The cell's centre, clamped to the supported limits.
pub fn area_to_long_lat(area: &Area) -> [f64; 2] {
    let mut x = (area.longitude.min + area.longitude.max) / 2.0;
    x = x.clamp_like_c(LONG_MIN, LONG_MAX);
    let mut y = (area.latitude.min + area.latitude.max) / 2.0;
    y = y.clamp_like_c(LAT_MIN, LAT_MAX);
    [x, y]
}

/// `if (v > max) v = max; if (v < min) v = min;` (NaN passes through).
trait ClampLikeC {
    fn clamp_like_c(self, min: f64, max: f64) -> f64;
}

impl ClampLikeC for f64 {
    fn clamp_like_c(self, min: f64, max: f64) -> f64 {
        let mut v = self;
        if v > max {
            v = max;
        }
        if v < min {
            v = min;
        }
        v
    }
}

pub fn decode_to_long_lat_wgs84(hash: HashBits) -> Option<[f64; 2]> {
    decode_wgs84(hash).map(|a| area_to_long_lat(&a))
}

/// C's `(uint64_t)score` as compiled for x86-64 by GCC: values below 2^63
/// truncate through a signed conversion (negatives wrap, out of range gives
/// 2^63), values from 2^63 up are offset by 2^63 first (so >= 2^64, +inf
/// and NaN give 0). Redis decodes any zset score this way.
pub fn score_to_bits(score: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    // cvttsd2si: out-of-range and NaN give the "integer indefinite" value.
    fn cvtt(v: f64) -> u64 {
        if v >= -TWO63 && v < TWO63 {
            (v as i64) as u64
        } else {
            1u64 << 63
        }
    }
    if score < TWO63 {
        cvtt(score)
    } else {
        cvtt(score - TWO63) ^ (1u64 << 63)
    }
}

/// Redis's decodeGeohash: the position a zset score stands for.
pub fn decode_score(score: f64) -> Option<[f64; 2]> {
    decode_to_long_lat_wgs84(HashBits {
        bits: score_to_bits(score),
        step: STEP_MAX,
    })
}

/// The 52-bit score stored for a position (None when out of limits).
pub fn encode_score(lon: f64, lat: f64) -> Option<u64> {
    encode_wgs84(lon, lat, STEP_MAX).map(align52)
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 || hash.step == 0 || hash.step > 32 {
        return;
    }
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0x5555555555555555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> shift;
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 || hash.step == 0 || hash.step > 32 {
        return;
    }
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555555555555555u64 >> shift;
    hash.bits = x | y;
}

/// Redis's geohashNeighbors (cells wrap around at the edges).
pub fn neighbors(hash: &HashBits) -> Neighbors {
    let mv = |dx: i8, dy: i8| {
        let mut h = *hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        east: mv(1, 0),
        west: mv(-1, 0),
        south: mv(0, -1),
        north: mv(0, 1),
        north_west: mv(-1, 1),
        north_east: mv(1, 1),
        south_east: mv(1, -1),
        south_west: mv(-1, -1),
    }
}

/// Redis's geohashEstimateStepsByRadius: the cell precision for a search.
pub fn estimate_steps_by_radius(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range_meters = range_meters;
    let mut step: i32 = 1;
    // Doubling reaches MERCATOR_MAX within ~1100 rounds even from the
    // smallest subnormal (NaN/inf never enter the loop). Callers never pass a
    // negative radius (C would spin forever); the cap keeps that finite too.
    while range_meters < MERCATOR_MAX && step < 4096 {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if lat > 66.0 || lat < -66.0 {
        step -= 1;
        if lat > 80.0 || lat < -80.0 {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// Redis's geohashBoundingBox: [min lon, min lat, max lon, max lat].
pub fn bounding_box(shape: &Shape) -> [f64; 4] {
    let [longitude, latitude] = shape.xy;
    let (h, w) = match shape.kind {
        ShapeKind::Circle { radius } => (radius, radius),
        ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
    };
    let height = shape.conversion * h;
    let width = shape.conversion * w;
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    let southern = latitude < 0.0;
    [
        if southern {
            longitude - long_delta_bottom
        } else {
            longitude - long_delta_top
        },
        latitude - lat_delta,
        if southern {
            longitude + long_delta_bottom
        } else {
            longitude + long_delta_top
        },
        latitude + lat_delta,
    ]
}

/// Redis's geohashCalculateAreasByShapeWGS84: the 9 cells covering the
/// shape, with the useless ones zeroed.
pub fn calculate_areas_by_shape_wgs84(shape: &Shape) -> HashRadius {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let [longitude, latitude] = shape.xy;
    let radius_meters = match shape.kind {
        ShapeKind::Circle { radius } => radius,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let mut steps = estimate_steps_by_radius(radius_meters, latitude);
    let (long_range, lat_range) = coord_range();
    // The centre is always within limits here; a failed encode leaves Redis
    // with bits 0 at the requested step, reproduced by the fallback.
    let enc = |steps: u8| {
        encode(long_range, lat_range, longitude, latitude, steps).unwrap_or(HashBits {
            bits: 0,
            step: steps,
        })
    };
    let dec = |h: HashBits| decode(long_range, lat_range, h).unwrap_or_default();
    let mut hash = enc(steps);
    let mut nb = neighbors(&hash);
    let mut area = dec(hash);

    // Near a cell edge the estimated step may leave part of the shape out
    // of the 3x3 block: use one step coarser then.
    let decrease_step = dec(nb.north).latitude.max < max_lat
        || dec(nb.south).latitude.min > min_lat
        || dec(nb.east).longitude.max < max_lon
        || dec(nb.west).longitude.min > min_lon;
    if steps > 1 && decrease_step {
        steps -= 1;
        hash = enc(steps);
        nb = neighbors(&hash);
        area = dec(hash);
    }

    // Exclude the cells that cannot hold a match.
    if steps >= 2 {
        let zero = HashBits::default();
        if area.latitude.min < min_lat {
            nb.south = zero;
            nb.south_west = zero;
            nb.south_east = zero;
        }
        if area.latitude.max > max_lat {
            nb.north = zero;
            nb.north_east = zero;
            nb.north_west = zero;
        }
        if area.longitude.min < min_lon {
            nb.west = zero;
            nb.south_west = zero;
            nb.north_west = zero;
        }
        if area.longitude.max > max_lon {
            nb.east = zero;
            nb.south_east = zero;
            nb.north_east = zero;
        }
    }
    HashRadius {
        hash,
        area,
        neighbors: nb,
    }
}

/// The cell's bits moved to the top of 52 bits (its lowest score).
pub fn align52(hash: HashBits) -> u64 {
    let shift = 52u32.saturating_sub(u32::from(hash.step) * 2);
    hash.bits.checked_shl(shift).unwrap_or(0)
}

/// Score range [min, max) of the stored points inside cell `hash`.
pub fn scores_of_box(hash: HashBits) -> (f64, f64) {
    let min = align52(hash);
    let max = align52(HashBits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    });
    (min as f64, max as f64)
}

/// Haversine great-circle distance in metres (Redis 7.0's formula).
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lat1r = deg_rad(lat1d);
    let lon1r = deg_rad(lon1d);
    let lat2r = deg_rad(lat2d);
    let lon2r = deg_rad(lon2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_IN_METERS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// Distance from (x1,y1) to (x2,y2) when within `radius` metres.
pub fn distance_if_in_radius(x1: f64, y1: f64, x2: f64, y2: f64, radius: f64) -> Option<f64> {
    let d = distance(x1, y1, x2, y2);
    if d > radius {
        None
    } else {
        Some(d)
    }
}

/// Distance from the box centre (x1,y1) to (x2,y2) when the point is in the
/// width_m x height_m box (Redis 7.0's test: both partial distances).
pub fn distance_if_in_rectangle(
    width_m: f64,
    height_m: f64,
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
) -> Option<f64> {
    let lon_distance = distance(x2, y2, x1, y2);
    let lat_distance = distance(x2, y2, x2, y1);
    if lon_distance > width_m / 2.0 || lat_distance > height_m / 2.0 {
        return None;
    }
    Some(distance(x1, y1, x2, y2))
}

/// Distance from the shape's centre to `xy` when `xy` is inside the shape.
pub fn distance_in_shape(shape: &Shape, xy: [f64; 2]) -> Option<f64> {
    match shape.kind {
        ShapeKind::Circle { radius } => distance_if_in_radius(
            shape.xy[0],
            shape.xy[1],
            xy[0],
            xy[1],
            radius * shape.conversion,
        ),
        ShapeKind::Box { width, height } => distance_if_in_rectangle(
            width * shape.conversion,
            height * shape.conversion,
            shape.xy[0],
            shape.xy[1],
            xy[0],
            xy[1],
        ),
    }
}

/// GEOHASH's 11-character standard geohash of a position: re-encoded over
/// latitude -90..90 (the stored score uses -85..85), 10 characters of 5
/// bits and a final '0' (only 52 bits exist).
pub fn standard_geohash(xy: [f64; 2]) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let r_lon = Range {
        min: -180.0,
        max: 180.0,
    };
    let r_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(r_lon, r_lat, xy[0], xy[1], 26).map_or(0, |h| h.bits);
    let mut buf = [b'0'; 11];
    for (i, c) in buf.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - ((i as u32 + 1) * 5))) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    buf
}

/// Redis's sort_gp_asc on distances (ties compare equal).
pub fn cmp_dist(a: f64, b: f64) -> Ordering {
    if a > b {
        Ordering::Greater
    } else if a == b {
        Ordering::Equal
    } else {
        Ordering::Less
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_catania_like_redis() {
        // Scores, positions, hashes and distance as Redis 7.0 replies them.
        assert_eq!(encode_score(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(encode_score(15.087269, 37.502669), Some(3479447370796909));
        let p = decode_score(3479099956230698.0).unwrap_or_default();
        assert_eq!(format!("{:.17}", p[0]), "13.36138933897018433");
        assert_eq!(format!("{:.17}", p[1]), "38.11555639549629859");
        let c = decode_score(3479447370796909.0).unwrap_or_default();
        assert_eq!(
            format!("{:.4}", distance(p[0], p[1], c[0], c[1])),
            "166274.1516"
        );
        assert_eq!(&standard_geohash(p), b"sqc8b49rny0");
        assert_eq!(&standard_geohash(c), b"sqdtr74hyu0");
    }

    #[test]
    fn c_cast_of_out_of_range_scores() {
        assert_eq!(score_to_bits(-1.0), u64::MAX);
        assert_eq!(score_to_bits(1e30), 0);
        assert_eq!(score_to_bits(f64::INFINITY), 0);
        assert_eq!(score_to_bits(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(score_to_bits(-1e20), 1 << 63);
        assert_eq!(score_to_bits(1e19), 10_000_000_000_000_000_000);
        assert_eq!(score_to_bits(2.5), 2);
        // Out-of-range cells decode clamped to the limits.
        assert_eq!(decode_score(-1.0), Some([180.0, LAT_MAX]));
    }

    #[test]
    fn interleave_roundtrip() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ffffff, 0x1234567),
            (u32::MAX, 7),
        ] {
            let i = interleave64(x, y);
            let d = deinterleave64(i);
            assert_eq!((d as u32, (d >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn neighbours_wrap() {
        let h = HashBits { bits: 0, step: 1 };
        let n = neighbors(&h);
        // 2x2 world: every direction wraps onto the other cells.
        assert_eq!(n.north, n.south);
        assert_eq!(n.east, n.west);
        assert_eq!(n.north_east, n.south_west);
        let h = encode_wgs84(0.0, 0.0, 26).unwrap_or_default();
        let n = neighbors(&h);
        let a = decode_wgs84(h).unwrap_or_default();
        let e = decode_wgs84(n.east).unwrap_or_default();
        assert_eq!(a.longitude.max, e.longitude.min);
    }

    #[test]
    fn steps() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(1e9, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(f64::MIN_POSITIVE / 1e10, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(-1.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(f64::NAN, 0.0), 1);
        assert!(estimate_steps_by_radius(1000.0, 0.0) > estimate_steps_by_radius(1000.0, 85.0));
    }

    #[test]
    fn pqsort_sorts_the_requested_prefix() {
        let mut seed = 7u64;
        for n in [0usize, 1, 5, 7, 8, 40, 41, 100, 300] {
            let mut v: Vec<(u32, usize)> = (0..n)
                .map(|i| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (((seed >> 33) % 10) as u32, i)
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_by_key(|x| x.0);
            let k = n / 3;
            if n > 0 {
                crate::pqsort::pqsort(
                    &mut v,
                    0,
                    k as i64,
                    &|a: &(u32, usize), b: &(u32, usize)| a.0.cmp(&b.0),
                );
                let got: Vec<u32> = v[..=k].iter().map(|x| x.0).collect();
                let want: Vec<u32> = sorted[..=k].iter().map(|x| x.0).collect();
                assert_eq!(got, want);
                let mut all: Vec<usize> = v.iter().map(|x| x.1).collect();
                all.sort_unstable();
                assert_eq!(all, (0..n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn pqsort_ties_in_redis_order() {
        // Distances of GEOSEARCH ... ASC COUNT 3 over 10 points where 5 share
        // a position: Redis 7.0.15 answers d e a (indices 5 6 2).
        let d = [9u32, 7, 1, 1, 1, 1, 1, 5, 5, 8];
        let mut v: Vec<(u32, usize)> = d.iter().copied().zip(0..).collect();
        crate::pqsort::pqsort(&mut v, 0, 2, &|a: &(u32, usize), b: &(u32, usize)| {
            a.0.cmp(&b.0)
        });
        let got: Vec<usize> = v.iter().map(|x| x.1).collect();
        assert_eq!(&got[..8], &[5, 6, 2, 3, 4, 7, 8, 1]);
    }

    #[test]
    fn areas_cover_the_centre() {
        let shape = Shape {
            xy: [13.361389, 38.115556],
            conversion: 1000.0,
            kind: ShapeKind::Circle { radius: 200.0 },
        };
        let r = calculate_areas_by_shape_wgs84(&shape);
        let s = encode_score(13.361389, 38.115556).unwrap_or_default() as f64;
        let (lo, hi) = scores_of_box(r.hash);
        assert!(lo <= s && s < hi);
        let bx = Shape {
            xy: [0.0, 0.0],
            conversion: 1.0,
            kind: ShapeKind::Box {
                width: 2000.0,
                height: 1000.0,
            },
        };
        assert!(distance_in_shape(&bx, [0.005, 0.004]).is_some());
        assert!(distance_in_shape(&bx, [0.005, 0.005]).is_none());
    }
}

//! Key extraction from Redis 7's key specifications (COMMAND GETKEYS, and
//! later cluster slot checks and ACL key patterns): each command's key specs
//! are read once from its generated COMMAND INFO bytes and interpreted as
//! Redis's getKeysUsingKeySpecs does, with Redis's fallback procedures for
//! the commands whose specs cannot describe their keys (SORT's STORE).

/// A value of the (RESP3) COMMAND INFO reply, enough to read key specs.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Int(i64),
    Str(Vec<u8>),
    Arr(Vec<V>),
    Map(Vec<(V, V)>),
    Null,
}

impl V {
    fn get(&self, key: &str) -> Option<&V> {
        match self {
            V::Map(m) => m
                .iter()
                .find(|(k, _)| matches!(k, V::Str(s) if s == key.as_bytes()))
                .map(|(_, v)| v),
            _ => None,
        }
    }
    fn int(&self) -> i64 {
        match self {
            V::Int(i) => *i,
            _ => 0,
        }
    }
    fn str(&self) -> &[u8] {
        match self {
            V::Str(s) => s,
            _ => b"",
        }
    }
}

/// Parse one RESP3 frame (trusted input: the generated table).
fn parse(b: &[u8], pos: &mut usize) -> Option<V> {
    let start = *pos;
    let end = start + b.get(start..)?.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(b.get(start + 1..end)?).ok()?;
    *pos = end + 2;
    let kind = *b.get(start)?;
    match kind {
        b':' => line.parse().ok().map(V::Int),
        b'+' | b'-' => Some(V::Str(line.as_bytes().to_vec())),
        b'$' | b'=' => {
            let n: usize = line.parse().ok()?;
            let s = b.get(*pos..*pos + n)?.to_vec();
            *pos += n + 2;
            Some(V::Str(s))
        }
        b'_' => Some(V::Null),
        b'*' | b'~' | b'>' => {
            let n: usize = line.parse().ok()?;
            (0..n)
                .map(|_| parse(b, pos))
                .collect::<Option<Vec<_>>>()
                .map(V::Arr)
        }
        b'%' => {
            let n: usize = line.parse().ok()?;
            let mut m = Vec::with_capacity(n);
            for _ in 0..n {
                let k = parse(b, pos)?;
                let v = parse(b, pos)?;
                m.push((k, v));
            }
            Some(V::Map(m))
        }
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Begin {
    Index(i64),
    Keyword { keyword: Vec<u8>, startfrom: i64 },
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
enum Find {
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeySpec {
    begin: Begin,
    find: Find,
    not_key: bool,
    incomplete: bool,
    variable_flags: bool,
}

/// The key specs of a command, from its COMMAND INFO bytes (element 9).
pub fn parse_specs(info: &[u8]) -> Vec<KeySpec> {
    let mut pos = 0;
    let Some(V::Arr(items)) = parse(info, &mut pos) else {
        return Vec::new();
    };
    let Some(V::Arr(specs)) = items.get(8) else {
        return Vec::new();
    };
    specs
        .iter()
        .map(|s| {
            let flags: Vec<&[u8]> = match s.get("flags") {
                Some(V::Arr(f)) => f.iter().map(V::str).collect(),
                _ => Vec::new(),
            };
            let has = |f: &str| flags.iter().any(|x| x.eq_ignore_ascii_case(f.as_bytes()));
            let bs = s.get("begin_search");
            let bspec = bs.and_then(|b| b.get("spec"));
            let begin = match bs.and_then(|b| b.get("type")).map(V::str) {
                Some(b"index") => {
                    Begin::Index(bspec.and_then(|x| x.get("index")).map_or(0, V::int))
                }
                Some(b"keyword") => Begin::Keyword {
                    keyword: bspec
                        .and_then(|x| x.get("keyword"))
                        .map_or(Vec::new(), |k| k.str().to_vec()),
                    startfrom: bspec.and_then(|x| x.get("startfrom")).map_or(0, V::int),
                },
                _ => Begin::Unknown,
            };
            let fk = s.get("find_keys");
            let fspec = fk.and_then(|f| f.get("spec"));
            let num = |k: &str| fspec.and_then(|x| x.get(k)).map_or(0, V::int);
            let find = match fk.and_then(|f| f.get("type")).map(V::str) {
                Some(b"range") => Find::Range {
                    lastkey: num("lastkey"),
                    keystep: num("keystep"),
                    limit: num("limit"),
                },
                Some(b"keynum") => Find::Keynum {
                    keynumidx: num("keynumidx"),
                    firstkey: num("firstkey"),
                    keystep: num("keystep"),
                },
                _ => Find::Unknown,
            };
            KeySpec {
                begin,
                find,
                not_key: has("not_key"),
                incomplete: has("incomplete"),
                variable_flags: has("variable_flags"),
            }
        })
        .collect()
}

/// Redis's getKeysUsingKeySpecs: None when a spec is invalid for `argv`.
fn keys_using_specs(specs: &[KeySpec], argv: &[&[u8]], arity: i32) -> Option<Vec<usize>> {
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in specs {
        if spec.not_key {
            continue;
        }
        let mut first = match &spec.begin {
            Begin::Index(i) => *i,
            Begin::Keyword { keyword, startfrom } => {
                let start = if *startfrom > 0 {
                    *startfrom
                } else {
                    argc + startfrom
                };
                let end = if *startfrom > 0 { argc - 1 } else { 1 };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(keyword) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => return None,
        };
        let (last, step) = match spec.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, keystep)
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let at = usize::try_from(first + keynumidx).ok()?;
                if keynumidx >= argc {
                    return None;
                }
                let numkeys = crate::util::parse_i64(argv.get(at)?)?;
                if numkeys < 0 {
                    return None;
                }
                first += firstkey;
                (first.checked_add(numkeys)? - 1, keystep)
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            if i >= argc || i < first {
                if arity < 0 {
                    i += step.max(1);
                    continue;
                }
                return None;
            }
            keys.push(i as usize);
            i += step.max(1);
        }
        if spec.incomplete {
            return None;
        }
    }
    Some(keys)
}

/// Redis's sortGetKeys: the sorted key, then the last STORE destination.
fn sort_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// Key positions in `argv` (argv[0] is the command name) for a command with
/// `specs`, as Redis's getKeysFromCommandWithSpecs; None = invalid arguments.
pub fn key_positions(
    name: &str,
    specs: &[KeySpec],
    argv: &[&[u8]],
    arity: i32,
) -> Option<Vec<usize>> {
    let has_varflags = specs.iter().any(|s| s.variable_flags);
    if specs.iter().any(|s| !s.not_key) && !has_varflags {
        if let Some(k) = keys_using_specs(specs, argv, arity) {
            return Some(k);
        }
    }
    // Redis's getkeys_proc fallbacks for these commands.
    match name {
        "sort" => Some(sort_keys(argv)),
        "sort_ro" | "set" | "bitfield" if argv.len() > 1 => Some(vec![1]),
        _ => None,
    }
}

/// doesCommandHaveKeys.
pub fn has_keys(name: &str, specs: &[KeySpec]) -> bool {
    matches!(name, "sort" | "sort_ro" | "set" | "bitfield") || specs.iter().any(|s| !s.not_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(table: &crate::cmd::CommandTable, line: &str) -> Option<Vec<String>> {
        let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let i = table.lookup_full(&argv)?;
        let c = &table.cmds[i];
        let name = c.fullname.clone();
        key_positions(&name, &c.key_specs, &argv, c.arity).map(|v| {
            v.into_iter()
                .map(|p| String::from_utf8_lossy(argv[p]).into_owned())
                .collect()
        })
    }

    #[test]
    fn movable_keys_follow_the_specs() {
        let t = crate::cmd::CommandTable::new();
        let k = |l: &str| keys(&t, l);
        assert_eq!(k("zunionstore dst 2 a b").unwrap(), ["dst", "a", "b"]);
        assert_eq!(k("lmpop 2 a b left").unwrap(), ["a", "b"]);
        assert_eq!(k("xread count 2 streams s1 s2 0 0").unwrap(), ["s1", "s2"]);
        assert_eq!(k("sort l by w get # store d").unwrap(), ["l", "d"]);
        assert_eq!(k("blmpop 0 2 a b left").unwrap(), ["a", "b"]);
        assert_eq!(k("georadius g 0 0 1 km store d").unwrap(), ["g", "d"]);
        assert_eq!(k("xreadgroup group g c streams s1 0").unwrap(), ["s1"]);
        assert_eq!(k("mset a 1 b 2").unwrap(), ["a", "b"]);
        assert_eq!(k("get a").unwrap(), ["a"]);
        assert_eq!(k("zunionstore dst x a b"), None, "bad numkeys");
    }
}

//! The `filters` of `GET /containers/json` and `GET /images/json`, read and applied as Docker
//! 20.10's daemon does (moby's `daemon/list.go` and `daemon/images/images.go`). Pure: the
//! model in, which containers or image references to list out.
//!
//! - `filters` is `{"key":{"value":true,…},…}` (the value's boolean is not looked at) or the
//!   legacy `{"key":["value",…]}`; a key the daemon does not know is its 400
//!   `Invalid filter 'key'`, and so are the values it checks (`status`, `dangling`, `is-task`,
//!   `health`, `exited`);
//! - values of one key are ORed, keys ANDed; `label` needs every `key` or `key=value` given;
//! - `name`, `id` and `status` are Go regular expressions matched anywhere in the value
//!   (`name=^busy`); the sim understands `^`, `$`, `.` and `*` and takes any other character
//!   literally;
//! - `status` lists stopped containers without `all`, as the daemon does; `before`/`since`
//!   name a container (or image) that must exist; `reference` is a `path.Match` glob on
//!   `name:tag` or `name`.
//!
//! The sim's containers have no health checks, volumes, published or exposed ports and are no
//! swarm tasks, so `health` other than `none`, `volume`, `publish`, `expose`, `isolation` and
//! `is-task=true` match none of them; its images have no labels and none is dangling.

use super::super::model::{IMAGE_NAME, Image, Lookup, Model, State};

/// The filter keys of `/containers/json` (moby's `acceptedPsFilterTags`).
pub(crate) const PS_KEYS: [&str; 15] = [
    "ancestor",
    "before",
    "exited",
    "expose",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// The filter keys of `/images/json` in Docker 20.10 (`until` came later).
pub(crate) const IMAGE_KEYS: [&str; 5] = ["before", "dangling", "label", "reference", "since"];

/// Container states a `status` filter may name.
const STATES: [&str; 7] = [
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// A refusal: the status and the daemon's message.
pub(crate) type Refusal = (u16, String);

fn invalid(msg: String) -> Refusal {
    (400, msg)
}

/// moby's `filters.Args`: keys with their values, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Args(Vec<(String, Vec<String>)>);

impl Args {
    /// Parses the (percent-decoded) `filters` parameter and checks its keys against `accepted`.
    pub(crate) fn parse(json: &str, accepted: &[&str]) -> Result<Args, Refusal> {
        use simd_json::prelude::*;
        if json.trim().is_empty() {
            return Ok(Args::default());
        }
        let mut bytes = json.as_bytes().to_vec();
        let doc = simd_json::to_borrowed_value(&mut bytes)
            .map_err(|e| invalid(format!("invalid filters: {e}")))?;
        let obj = doc.as_object().ok_or_else(|| {
            invalid(
                "json: cannot unmarshal into Go value of type map[string]map[string]bool".into(),
            )
        })?;
        let mut args = Args::default();
        for (key, value) in obj.iter() {
            let mut values = Vec::new();
            if let Some(map) = value.as_object() {
                values.extend(map.iter().map(|(v, _)| v.to_string()));
            } else if let Some(list) = value.as_array() {
                for v in list {
                    let v = v.as_str().ok_or_else(|| {
                        invalid(
                            "json: cannot unmarshal array into Go value of type map[string]bool"
                                .into(),
                        )
                    })?;
                    values.push(v.to_owned());
                }
            } else {
                return Err(invalid(format!(
                    "json: cannot unmarshal into Go value of type map[string]bool (filter '{key}')"
                )));
            }
            match args.0.iter_mut().find(|(k, _)| k == key.as_ref()) {
                Some((_, vs)) => vs.extend(values),
                None => args.0.push((key.to_string(), values)),
            }
        }
        // moby's `Validate`: the first unknown key, in Go's (random) map order; here the first.
        if let Some((key, _)) = args.0.iter().find(|(k, _)| !accepted.contains(&k.as_str())) {
            return Err(invalid(format!("Invalid filter '{key}'")));
        }
        Ok(args)
    }

    fn get(&self, key: &str) -> &[String] {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    fn contains(&self, key: &str) -> bool {
        !self.get(key).is_empty()
    }

    /// moby's `Match`: no values pass everything; otherwise one value equal to, or as a
    /// regular expression found in, `source`.
    fn matches(&self, key: &str, source: &str) -> bool {
        let values = self.get(key);
        values.is_empty() || values.iter().any(|v| v == source || regex_find(v, source))
    }

    /// moby's `MatchKVList`: every value `key` or `key=value` is among `labels`.
    fn matches_labels(&self, labels: &[(&str, &str)]) -> bool {
        self.get("label").iter().all(|v| match v.split_once('=') {
            Some((k, want)) => labels.iter().any(|(lk, lv)| *lk == k && *lv == want),
            None => labels.iter().any(|(lk, _)| *lk == v),
        })
    }
}

/// `GET /containers/json`'s selection.
#[derive(Clone, Debug, Default)]
pub(crate) struct ContainerQuery {
    pub(crate) all: bool,
    /// 0: no limit.
    pub(crate) limit: usize,
    pub(crate) size: bool,
    pub(crate) filters: Args,
}

impl ContainerQuery {
    /// The container indices to list, newest first, or the daemon's refusal.
    pub(crate) fn select(&self, model: &Model) -> Result<Vec<usize>, Refusal> {
        let f = &self.filters;
        for s in f.get("status") {
            if !STATES.contains(&s.as_str()) {
                return Err(invalid(format!("Invalid filter 'status={s}'")));
            }
        }
        let mut exited = Vec::new();
        for e in f.get("exited") {
            exited
                .push(e.parse::<i32>().map_err(|_| {
                    invalid(format!("strconv.Atoi: parsing {e:?}: invalid syntax"))
                })?);
        }
        for h in f.get("health") {
            if !matches!(h.as_str(), "starting" | "healthy" | "unhealthy" | "none") {
                return Err(invalid(format!(
                    "Unrecognised filter value for health: {h}"
                )));
            }
        }
        let is_task = f.get("is-task");
        if let [v] = is_task {
            if v != "true" && v != "false" {
                return Err(invalid(format!("Invalid filter 'is-task=[{v}]'")));
            }
        } else if is_task.len() > 1 {
            return Err(invalid(format!(
                "Invalid filter 'is-task=[{}]'",
                is_task.join(" ")
            )));
        }
        let container = |key: &str| -> Result<Option<usize>, Refusal> {
            match f.get(key).last() {
                None => Ok(None),
                Some(v) => match model.lookup(v) {
                    Lookup::Found(i) => Ok(Some(i)),
                    Lookup::NotFound => Err((500, format!("no such container {v}"))),
                    Lookup::Ambiguous => {
                        Err((500, format!("multiple IDs found with provided prefix: {v}")))
                    }
                },
            }
        };
        let mut before = container("before")?;
        let since = container("since")?;
        // A status filter lists stopped containers too; so does a limit.
        let all = self.all || self.limit > 0 || f.contains("status");
        let mut out = Vec::new();
        for &i in &model.listing {
            let Some(c) = model.containers.get(i) else {
                continue;
            };
            if c.state == State::Removed || (!all && !c.running()) {
                continue;
            }
            if self.limit > 0 && out.len() == self.limit {
                break;
            }
            if let Some(b) = before {
                if b == i {
                    before = None;
                }
                continue;
            }
            if since == Some(i) {
                break;
            }
            let labels = [("sim", "1"), ("sim.workload", c.label)];
            if !f.matches_labels(&labels) {
                continue;
            }
            let slash = format!("/{}", c.name);
            if !f.matches("name", &slash) && !f.matches("name", &c.name) {
                continue;
            }
            if !f.matches("id", &c.id) {
                continue;
            }
            if !exited.is_empty() {
                let State::Exited { code, .. } = c.state else {
                    continue;
                };
                if !exited.contains(&code) {
                    continue;
                }
            }
            if !f.matches("status", state_string(c.state)) {
                continue;
            }
            if f.contains("health") && !f.get("health").iter().any(|h| h == "none") {
                continue;
            }
            if ["volume", "publish", "expose", "isolation"]
                .iter()
                .any(|k| f.contains(k))
                || is_task.iter().any(|v| v == "true")
            {
                continue;
            }
            if f.contains("network") {
                let (name, id) = if c.bridge_index.is_some() {
                    ("bridge", model.bridge_net_id.as_str())
                } else {
                    ("none", model.none_net_id.as_str())
                };
                if !f
                    .get("network")
                    .iter()
                    .any(|v| v == name || id.starts_with(v.as_str()))
                {
                    continue;
                }
            }
            if f.contains("ancestor") && !f.get("ancestor").iter().any(|v| is_image(v, model)) {
                continue;
            }
            out.push(i);
        }
        Ok(out)
    }
}

/// The daemon's `State.StateString()`.
pub(crate) fn state_string(state: State) -> &'static str {
    match state {
        State::Created => "created",
        State::Running => "running",
        State::Paused => "paused",
        State::Exited { .. } => "exited",
        State::Removed => "removing",
    }
}

/// Whether `v` names the image every sim container runs: by reference or by id prefix.
fn is_image(v: &str, model: &Model) -> bool {
    let id = model.container_image_id();
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    let bare = v.strip_prefix("sha256:").unwrap_or(v);
    normalize(v) == IMAGE_NAME || (bare.len() >= 4 && hex.starts_with(bare))
}

/// `name` → `name:latest` (a reference without tag or digest means the latest tag).
fn normalize(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') || reference.contains('@') {
        reference.to_owned()
    } else {
        format!("{reference}:latest")
    }
}

/// One image of `/images/json` after filtering: which of its references remain.
pub(crate) struct ImageRow<'m> {
    pub(crate) image: &'m Image,
    pub(crate) tags: Vec<&'m str>,
    pub(crate) digests: Vec<&'m str>,
}

/// The images `filters` selects, in the model's order.
pub(crate) fn select_images<'m>(
    model: &'m Model,
    filters: &Args,
) -> Result<Vec<ImageRow<'m>>, Refusal> {
    let dangling = match filters.get("dangling") {
        [] => None,
        [v] if v.eq_ignore_ascii_case("true") || v == "1" => Some(true),
        [v] if v.eq_ignore_ascii_case("false") || v == "0" => Some(false),
        vs => {
            return Err(invalid(format!(
                "Invalid filter 'dangling=[{}]'",
                vs.join(" ")
            )));
        }
    };
    let image = |key: &str| -> Result<Option<u64>, Refusal> {
        match filters.get(key).last() {
            None => Ok(None),
            Some(v) => find_image(model, v)
                .map(|i| Some(i.created_secs))
                .ok_or_else(|| (404, format!("No such image: {}", normalize(v)))),
        }
    };
    let before = image("before")?;
    let since = image("since")?;
    let mut out = Vec::new();
    for img in &model.images {
        // No sim image is dangling, and none has labels.
        if dangling == Some(true) || filters.contains("label") {
            continue;
        }
        if before.is_some_and(|t| img.created_secs >= t)
            || since.is_some_and(|t| img.created_secs <= t)
        {
            continue;
        }
        let patterns = filters.get("reference");
        let keep = |r: &str| patterns.is_empty() || patterns.iter().any(|p| familiar_match(p, r));
        let tags: Vec<&str> = [img.repo_tag].into_iter().filter(|t| keep(t)).collect();
        let digests: Vec<&str> = img
            .digest
            .as_deref()
            .into_iter()
            .filter(|d| keep(d))
            .collect();
        if !patterns.is_empty() && tags.is_empty() && digests.is_empty() {
            continue;
        }
        out.push(ImageRow {
            image: img,
            tags,
            digests,
        });
    }
    Ok(out)
}

/// An image by reference (`sim/alpine`, `sim/alpine:3.20`) or id (prefix).
fn find_image<'m>(model: &'m Model, v: &str) -> Option<&'m Image> {
    let bare = v.strip_prefix("sha256:").unwrap_or(v);
    model.images.iter().find(|i| {
        i.repo_tag == normalize(v)
            || (!bare.is_empty()
                && bare.bytes().all(|b| b.is_ascii_hexdigit())
                && i.id
                    .strip_prefix("sha256:")
                    .unwrap_or(&i.id)
                    .starts_with(bare))
    })
}

/// `reference.FamiliarMatch`: the glob against `name:tag` (or `name@digest`), then `name`.
fn familiar_match(pattern: &str, reference: &str) -> bool {
    let name = match reference.split_once('@') {
        Some((n, _)) => n,
        None => {
            let slash = reference.rfind('/').map_or(0, |i| i + 1);
            match reference[slash..].rfind(':') {
                Some(c) => &reference[..slash + c],
                None => reference,
            }
        }
    };
    glob(pattern.as_bytes(), reference.as_bytes()) || glob(pattern.as_bytes(), name.as_bytes())
}

/// Go's `path.Match` without character classes: `*` any run of non-`/`, `?` one non-`/`,
/// `\` quotes the next character.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => {
            let mut k = 0;
            loop {
                if glob(rest, &s[k..]) {
                    return true;
                }
                if k == s.len() || s[k] == b'/' {
                    return false;
                }
                k += 1;
            }
        }
        Some((b'?', rest)) => s.first().is_some_and(|&c| c != b'/') && glob(rest, &s[1..]),
        Some((b'\\', rest)) if !rest.is_empty() => {
            s.first() == Some(&rest[0]) && glob(&rest[1..], &s[1..])
        }
        Some((&c, rest)) => s.first() == Some(&c) && glob(rest, &s[1..]),
    }
}

/// Whether the regular expression `re` matches somewhere in `s`: `^`, `$`, `.`, `*` and
/// `\`-quoting; every other character stands for itself.
fn regex_find(re: &str, s: &str) -> bool {
    let re: Vec<char> = re.chars().collect();
    let s: Vec<char> = s.chars().collect();
    if let Some(rest) = re.strip_prefix(&['^']) {
        return regex_here(rest, &s);
    }
    (0..=s.len()).any(|k| regex_here(&re, &s[k..]))
}

fn regex_here(re: &[char], s: &[char]) -> bool {
    // (the atom, its length in `re`)
    let atom = match re {
        [] => return true,
        ['$'] => return s.is_empty(),
        ['\\', c, ..] => (Some(*c), 2),
        ['.', ..] => (None, 1),
        [c, ..] => (Some(*c), 1),
    };
    let (want, len) = atom;
    let hit = |c: &char| want.is_none_or(|w| w == *c);
    if re.get(len) == Some(&'*') {
        let rest = &re[len + 1..];
        let mut k = 0;
        loop {
            if regex_here(rest, &s[k..]) {
                return true;
            }
            if k == s.len() || !hit(&s[k]) {
                return false;
            }
            k += 1;
        }
    }
    s.first().is_some_and(hit) && regex_here(&re[len..], &s[1..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;
    use crate::frames::tests::T0;
    use crate::model::Op;
    use crate::time::SECOND;

    fn model() -> Model {
        let config = SimConfig {
            containers: 6,
            stopped: 2,
            ..SimConfig::default()
        };
        Model::new(&config, T0)
    }

    fn names(m: &Model, q: &ContainerQuery) -> Vec<String> {
        q.select(m)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .iter()
            .map(|&i| m.containers[i].name.to_string())
            .collect()
    }

    fn query(all: bool, filters: &str) -> ContainerQuery {
        ContainerQuery {
            all,
            limit: 0,
            size: false,
            filters: Args::parse(filters, &PS_KEYS).unwrap_or_else(|e| panic!("{e:?}")),
        }
    }

    #[test]
    fn regular_expressions_and_globs() {
        assert!(regex_find("busy", "/busy-1"));
        assert!(regex_find("^busy", "busy-1"));
        assert!(!regex_find("^busy", "/busy-1"));
        assert!(regex_find("y-.$", "busy-1"));
        assert!(!regex_find("y-$", "busy-1"));
        assert!(regex_find("b.*1", "busy-1"));
        assert!(regex_find("", "x"));
        assert!(regex_find("a\\.b", "a.b") && !regex_find("a\\.b", "axb"));
        assert!(glob(b"sim/*", b"sim/alpine"));
        assert!(!glob(b"*", b"sim/alpine"));
        assert!(glob(b"sim/alp?ne:3.*", b"sim/alpine:3.20"));
        assert!(familiar_match("sim/alpine", "sim/alpine:3.20"));
        assert!(familiar_match("sim/alpine", "sim/alpine@sha256:00"));
        assert!(!familiar_match("sim/alpine:3.20", "sim/alpine@sha256:00"));
        assert!(!familiar_match("alpine", "sim/alpine:3.20"));
    }

    #[test]
    fn filters_parse_like_the_daemon() {
        let both = Args::parse(r#"{"label":{"a":true,"b=c":false},"name":["x"]}"#, &PS_KEYS);
        assert_eq!(
            both,
            Ok(Args(vec![
                ("label".into(), vec!["a".into(), "b=c".into()]),
                ("name".into(), vec!["x".into()])
            ]))
        );
        assert_eq!(Args::parse("", &PS_KEYS), Ok(Args::default()));
        assert_eq!(
            Args::parse(r#"{"foo":{"bar":true}}"#, &PS_KEYS),
            Err((400, "Invalid filter 'foo'".into()))
        );
        assert_eq!(
            Args::parse(r#"{"until":{"1h":true}}"#, &IMAGE_KEYS),
            Err((400, "Invalid filter 'until'".into()))
        );
        assert_eq!(Args::parse("{", &PS_KEYS).map_err(|e| e.0), Err(400));
        let m = model();
        let refused = |filters: &str| query(false, filters).select(&m).err();
        assert_eq!(
            refused(r#"{"status":{"bogus":true}}"#),
            Some((400, "Invalid filter 'status=bogus'".into()))
        );
        assert_eq!(
            refused(r#"{"exited":{"abc":true}}"#),
            Some((400, "strconv.Atoi: parsing \"abc\": invalid syntax".into()))
        );
        assert_eq!(
            refused(r#"{"health":{"x":true}}"#),
            Some((400, "Unrecognised filter value for health: x".into()))
        );
        assert_eq!(
            refused(r#"{"is-task":{"maybe":true}}"#),
            Some((400, "Invalid filter 'is-task=[maybe]'".into()))
        );
        assert_eq!(
            refused(r#"{"before":{"nosuch":true}}"#),
            Some((500, "no such container nosuch".into()))
        );
    }

    #[test]
    fn container_filters() {
        let m = model();
        let running = names(&m, &query(false, ""));
        assert_eq!(running.len(), 6);
        assert_eq!(names(&m, &query(true, "")).len(), 8);
        // status lists stopped containers without `all`.
        assert_eq!(
            names(&m, &query(false, r#"{"status":{"exited":true}}"#)),
            ["stopped-8", "stopped-7"]
        );
        assert_eq!(
            names(&m, &query(false, r#"{"exited":{"0":true}}"#)),
            Vec::<String>::new()
        );
        assert_eq!(
            names(&m, &query(true, r#"{"exited":{"0":true}}"#)),
            ["stopped-8", "stopped-7"]
        );
        assert_eq!(
            names(&m, &query(true, r#"{"exited":{"1":true}}"#)),
            Vec::<String>::new()
        );
        assert_eq!(
            names(&m, &query(false, r#"{"name":{"^busy":true}}"#)),
            ["busy-1"]
        );
        assert_eq!(
            names(&m, &query(false, r#"{"name":{"y-1":true}}"#)),
            ["busy-1"]
        );
        let id = &m.containers[2].id;
        let by_id = format!(r#"{{"id":{{"{}":true}}}}"#, &id[..8]);
        assert_eq!(
            names(&m, &query(false, &by_id)),
            [m.containers[2].name.to_string()]
        );
        assert_eq!(
            names(&m, &query(false, r#"{"label":{"sim.workload=idle":true}}"#)),
            ["idle-2"]
        );
        assert_eq!(
            names(&m, &query(false, r#"{"label":{"sim":true}}"#)).len(),
            6
        );
        assert_eq!(
            names(&m, &query(false, r#"{"label":{"sim":true,"nope":true}}"#)),
            Vec::<String>::new()
        );
        assert_eq!(
            names(&m, &query(false, r#"{"ancestor":{"sim/busybox":true}}"#)).len(),
            6
        );
        assert_eq!(
            names(&m, &query(false, r#"{"ancestor":{"sim/alpine":true}}"#)).len(),
            0
        );
        let image = m.container_image_id()["sha256:".len()..][..6].to_owned();
        let ancestor = format!(r#"{{"ancestor":{{"{image}":true}}}}"#);
        assert_eq!(names(&m, &query(false, &ancestor)).len(), 6);
        // Newest first: before skips down to the container, since stops at it.
        let all = names(&m, &query(true, ""));
        assert_eq!(
            names(&m, &query(true, r#"{"before":{"busy-1":true}}"#)),
            Vec::<String>::new()
        );
        let mid = &all[3];
        let before = names(
            &m,
            &query(true, &format!(r#"{{"before":{{"{mid}":true}}}}"#)),
        );
        assert_eq!(before, all[4..]);
        let since = names(
            &m,
            &query(true, &format!(r#"{{"since":{{"{mid}":true}}}}"#)),
        );
        assert_eq!(since, all[..3]);
        assert_eq!(
            names(&m, &query(false, r#"{"health":{"none":true}}"#)).len(),
            6
        );
        assert!(names(&m, &query(false, r#"{"health":{"healthy":true}}"#)).is_empty());
        assert!(names(&m, &query(false, r#"{"volume":{"v":true}}"#)).is_empty());
        assert!(names(&m, &query(false, r#"{"publish":{"80":true}}"#)).is_empty());
        assert_eq!(
            names(&m, &query(false, r#"{"is-task":{"false":true}}"#)).len(),
            6
        );
        assert_eq!(
            names(&m, &query(false, r#"{"network":{"bridge":true}}"#)),
            ["net-6"]
        );
        // limit implies all and counts what passes the filters.
        let mut q = query(false, r#"{"label":{"sim":true}}"#);
        q.limit = 2;
        assert_eq!(names(&m, &q), all[..2]);
    }

    #[test]
    fn status_follows_the_lifecycle() {
        let mut m = model();
        let mut ev = Vec::new();
        m.apply(&Op::Pause, "busy-1", T0 + SECOND, &mut ev)
            .map(drop)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            names(&m, &query(false, r#"{"status":{"paused":true}}"#)),
            ["busy-1"]
        );
        assert_eq!(
            names(&m, &query(false, r#"{"status":{"running":true}}"#)).len(),
            5
        );
    }

    #[test]
    fn image_filters() {
        let m = model();
        let repos = |filters: &str| -> Vec<String> {
            let args = Args::parse(filters, &IMAGE_KEYS).unwrap_or_else(|e| panic!("{e:?}"));
            select_images(&m, &args)
                .unwrap_or_else(|e| panic!("{e:?}"))
                .iter()
                .map(|r| format!("{:?}{:?}", r.tags, r.digests.len()))
                .collect()
        };
        assert_eq!(repos("").len(), 3);
        assert_eq!(repos(r#"{"dangling":{"false":true}}"#).len(), 3);
        assert!(repos(r#"{"dangling":{"true":true}}"#).is_empty());
        assert!(repos(r#"{"label":{"a":true}}"#).is_empty());
        assert_eq!(
            repos(r#"{"reference":{"sim/alpine":true}}"#),
            [r#"["sim/alpine:3.20"]1"#]
        );
        assert_eq!(
            repos(r#"{"reference":{"sim/alpine:3.20":true}}"#),
            [r#"["sim/alpine:3.20"]0"#]
        );
        assert_eq!(repos(r#"{"reference":{"sim/*":true}}"#).len(), 3);
        assert!(repos(r#"{"reference":{"alpine":true}}"#).is_empty());
        // Created: busybox newest, then alpine, then debian.
        assert_eq!(
            repos(r#"{"before":{"sim/alpine:3.20":true}}"#),
            [r#"["sim/debian:bookworm-slim"]1"#]
        );
        assert_eq!(
            repos(r#"{"since":{"sim/alpine:3.20":true}}"#),
            [r#"["sim/busybox:latest"]0"#]
        );
        let id = m.images[2].id["sha256:".len()..][..12].to_owned();
        assert_eq!(repos(&format!(r#"{{"since":{{"{id}":true}}}}"#)).len(), 2);
        let refused = |filters: &str| {
            let args = Args::parse(filters, &IMAGE_KEYS).unwrap_or_else(|e| panic!("{e:?}"));
            select_images(&m, &args).err()
        };
        assert_eq!(
            refused(r#"{"before":{"nosuch":true}}"#),
            Some((404, "No such image: nosuch:latest".into()))
        );
        assert_eq!(
            refused(r#"{"dangling":{"maybe":true}}"#),
            Some((400, "Invalid filter 'dangling=[maybe]'".into()))
        );
    }
}

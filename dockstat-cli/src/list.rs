//! `dockstat ps` and `dockstat images`: the `docker ps` / `docker images` listings.
//!
//! Each container or image becomes a [`Row`] holding the fields the docker CLI's formatter
//! offers, rendered exactly as it renders them, so `--format` templates, `table` and `json`
//! print what docker prints.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use dockstat::api::{ContainerSummary, ImageSummary, Port};
use dockstat::engine::Client;

use crate::Failure;
use crate::format::{Cell, Format, Row, json_string};
use crate::units::{
    ago, ellipsis, go_quote, go_time_string, human_size, human_size_prec, truncate_id,
};

const PS_TABLE: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
const PS_FIELDS: &[&str] = &[
    "Command",
    "CreatedAt",
    "ID",
    "Image",
    "Labels",
    "LocalVolumes",
    "Mounts",
    "Names",
    "Networks",
    "Platform",
    "Ports",
    "RunningFor",
    "Size",
    "State",
    "Status",
];

const IMAGES_TABLE: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const IMAGE_FIELDS: &[&str] = &[
    "Containers",
    "CreatedAt",
    "CreatedSince",
    "Digest",
    "ID",
    "Repository",
    "SharedSize",
    "Size",
    "Tag",
    "UniqueSize",
    "VirtualSize",
];

const IMAGES_TABLE_DIGEST: &str =
    "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// Options of `ps` and `images` (`last`, `latest` and `size` are `ps`'s, `digests` and
/// `reference` `images`'s).
#[derive(Clone, Debug, Default)]
pub(crate) struct ListOpts {
    pub(crate) all: bool,
    pub(crate) quiet: bool,
    pub(crate) no_trunc: bool,
    pub(crate) format: Option<String>,
    /// `--filter NAME=VALUE`s as docker keeps them: the name lowercased, both trimmed.
    pub(crate) filters: Vec<(String, String)>,
    /// `-n N`; docker sends `limit` only when it is above 0.
    pub(crate) last: Option<i64>,
    /// `-l`: `limit=1` unless `-n` is given.
    pub(crate) latest: bool,
    /// `-s` / `--size[=BOOL]`.
    pub(crate) size: bool,
    /// Whether `--size` was given at all: `--size=false` stops a template's `.Size` from
    /// asking the daemon for sizes.
    pub(crate) size_changed: bool,
    /// `--digests`.
    pub(crate) digests: bool,
    /// `images REPOSITORY[:TAG]`, sent as a `reference` filter.
    pub(crate) reference: Option<String>,
}

impl ListOpts {
    /// Adds a `--filter` value as docker's `FilterOpt.Set` does (an empty one is ignored).
    pub(crate) fn add_filter(&mut self, value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Ok(());
        }
        let Some((name, val)) = value.split_once('=') else {
            return Err(format!(
                "invalid argument {value:?} for \"-f, --filter\" flag: bad format of filter (expected name=value)"
            ));
        };
        self.filters
            .push((name.trim().to_lowercase(), val.trim().to_string()));
        Ok(())
    }

    pub(crate) fn set_size(&mut self, size: bool) {
        self.size = size;
        self.size_changed = true;
    }
}

pub(crate) fn ps(client: &mut Client, opts: &ListOpts, out: &mut dyn Write) -> Result<(), Failure> {
    // docker checks the template first, then warns, then asks the daemon.
    let custom = parse_format(opts, PS_TABLE, PS_FIELDS)?;
    if opts.format.is_some() && opts.quiet {
        eprintln!("WARNING: Ignoring custom format, because both --format and --quiet are set.");
    }
    let size = wants_size(opts, &custom);
    let path = ps_path(opts, size);
    let mut body = fetch(client, &path)?;
    let containers = ContainerSummary::parse_list(&mut body)?;
    if opts.quiet {
        for c in &containers {
            let id = if opts.no_trunc {
                &c.id[..]
            } else {
                truncate_id(&c.id)
            };
            writeln!(out, "{id}").map_err(Failure::Output)?;
        }
        return Ok(());
    }
    // `table` (given or by default) gets a SIZE column when sizes were asked for.
    let format = match opts.format.as_deref() {
        None | Some("table") if size => {
            Format::parse("table", &format!("{PS_TABLE}\t{{{{.Size}}}}")).map_err(Failure::Usage)?
        }
        _ => custom,
    };
    let rows: Vec<Row> = containers
        .iter()
        .map(|c| container_row(c, !opts.no_trunc))
        .collect();
    format
        .write(out, &rows, &|f| ps_header(f).to_string())
        .map_err(Failure::Output)
}

/// Whether `ps` asks the daemon for sizes, as docker's `buildContainerListOptions` decides:
/// with `-s`, or when a `--format` template reads `.Size` (also through `{{json .}}`) unless
/// `-q` or `--size=false` is given. `--format json` and `table` do not: docker runs the format
/// text itself as a template to find out, and the words alone use no field.
fn wants_size(opts: &ListOpts, format: &Format) -> bool {
    opts.size
        || (opts.format.is_some()
            && !opts.quiet
            && !opts.size_changed
            && opts.format.as_deref().map(str::trim) != Some("table")
            && matches!(format, Format::Template { .. })
            && format.uses("Size"))
}

/// `/containers/json` with docker's query: `all`, `filters`, `limit`, `size`, in the
/// order Go's `url.Values.Encode` sorts them.
fn ps_path(opts: &ListOpts, size: bool) -> String {
    let mut limit = opts.last.unwrap_or(-1);
    if opts.latest && limit == -1 {
        limit = 1;
    }
    let mut query = Vec::new();
    if opts.all {
        query.push("all=1".to_string());
    }
    if let Some(json) = filters_json(opts.filters.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        query.push(format!("filters={}", query_escape(&json)));
    }
    if limit > 0 {
        query.push(format!("limit={limit}"));
    }
    if size {
        query.push("size=1".to_string());
    }
    with_query("/containers/json", &query)
}

/// `/images/json` with docker's query: `all` and `filters` (a `REPOSITORY[:TAG]` argument
/// becomes one more `reference` filter).
fn images_path(opts: &ListOpts) -> String {
    let filters = opts
        .filters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(opts.reference.as_deref().map(|r| ("reference", r)));
    let mut query = Vec::new();
    if opts.all {
        query.push("all=1".to_string());
    }
    if let Some(json) = filters_json(filters) {
        query.push(format!("filters={}", query_escape(&json)));
    }
    with_query("/images/json", &query)
}

fn with_query(path: &str, query: &[String]) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// docker's `filters.ToJSON`: `{"name":{"value":true,…},…}`, names and values sorted as Go
/// sorts map keys; `None` without filters (docker then sends no `filters` at all).
fn filters_json<'a>(filters: impl Iterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let mut map: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (k, v) in filters {
        map.entry(k).or_default().insert(v);
    }
    if map.is_empty() {
        return None;
    }
    let mut json = String::from("{");
    for (i, (k, values)) in map.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json_string(&mut json, k);
        json.push_str(":{");
        for (j, v) in values.iter().enumerate() {
            if j > 0 {
                json.push(',');
            }
            json_string(&mut json, v);
            json.push_str(":true");
        }
        json.push('}');
    }
    json.push('}');
    Some(json)
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub(crate) fn images(
    client: &mut Client,
    opts: &ListOpts,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let spec = opts.format.as_deref().unwrap_or("table");
    let table = if opts.digests {
        IMAGES_TABLE_DIGEST
    } else {
        IMAGES_TABLE
    };
    let mut format = parse_format(opts, table, IMAGE_FIELDS)?;
    // docker adds a DIGEST column to a custom table that lacks one.
    if opts.digests && spec != "table" && spec.starts_with("table") && !spec.contains("{{.Digest}}")
    {
        let spec = format!("{spec}\\t{{{{.Digest}}}}");
        format = Format::parse(&spec, table).map_err(Failure::Usage)?;
    }
    let mut body = fetch(client, &images_path(opts))?;
    let images = ImageSummary::parse_list(&mut body)?;
    // Quiet is docker's `{{.ID}}` only in place of the table; a custom format still applies.
    if opts.quiet && spec == "table" {
        let mut seen = Vec::new();
        for i in &images {
            let id = if opts.no_trunc {
                &i.id[..]
            } else {
                truncate_id(&i.id)
            };
            if !seen.contains(&id) {
                seen.push(id);
                writeln!(out, "{id}").map_err(Failure::Output)?;
            }
        }
        return Ok(());
    }
    let digests = Digests {
        shown: opts.digests,
        needed: opts.digests || spec.contains("{{.Digest}}"),
    };
    let rows: Vec<Row> = images
        .iter()
        .flat_map(|i| image_rows(i, !opts.no_trunc, digests))
        .collect();
    format
        .write(out, &rows, &|f| image_header(f).to_string())
        .map_err(Failure::Output)
}

fn parse_format(opts: &ListOpts, table: &str, fields: &[&str]) -> Result<Format, Failure> {
    let spec = opts.format.as_deref().unwrap_or("table");
    let format = Format::parse(spec, table).map_err(Failure::Usage)?;
    format.check_fields(fields).map_err(Failure::Usage)?;
    Ok(format)
}

/// GETs `path`; a refusal is docker's `Error response from daemon: MESSAGE`.
fn fetch(client: &mut Client, path: &str) -> Result<Vec<u8>, Failure> {
    let response = client.get_api(path)?;
    if response.code >= 400 {
        let target = client.api_version()?.path(path);
        return Err(response
            .status_error(client.endpoint().url(), &target)
            .into());
    }
    Ok(response.body)
}

fn container_row(c: &ContainerSummary, trunc: bool) -> Row {
    let mut row = Row::new();
    let id = if trunc { truncate_id(&c.id) } else { &c.id[..] };
    put(&mut row, "ID", id.to_string());
    put(&mut row, "Image", container_image(c, trunc));
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    put(&mut row, "Command", go_quote(&command));
    put(&mut row, "CreatedAt", go_time_string(c.created));
    put(&mut row, "RunningFor", ago(c.created));
    put(&mut row, "Ports", displayable_ports(&c.ports));
    put(&mut row, "State", c.state.clone());
    put(&mut row, "Status", c.status.clone());
    let size_rw = human_size(c.size_rw.unwrap_or(0) as f64);
    let size = match c.size_root_fs {
        Some(v) if v > 0 => format!("{size_rw} (virtual {})", human_size(v as f64)),
        _ => size_rw,
    };
    put(&mut row, "Size", size);
    put(&mut row, "Names", container_names(c, trunc));
    // docker sorts the `key=value` strings (not the keys: `a.b=1` before `a=2`).
    let mut labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort_unstable();
    put(&mut row, "Labels", labels.join(","));
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let name = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.clone()
            }
        })
        .collect();
    put(&mut row, "Mounts", mounts.join(","));
    let local = c.mounts.iter().filter(|m| m.driver == "local").count();
    put(&mut row, "LocalVolumes", local.to_string());
    put(&mut row, "Networks", c.networks.join(","));
    // docker ≥ 28 adds the image platform (null when the daemon does not report it).
    row.insert(
        "Platform",
        Cell::Json(c.platform.clone().unwrap_or_else(|| "null".into())),
    );
    row.extend([Cell::labels(&c.labels)]);
    row
}

fn container_image(c: &ContainerSummary, trunc: bool) -> String {
    if c.image.is_empty() {
        return "<no image>".into();
    }
    if trunc {
        let short = truncate_id(&c.image_id);
        if short == truncate_id(&c.image) {
            return short.to_string();
        }
        // Drop a digest ("name@sha256:…") as docker does when truncating.
        if let Some((name, _)) = c.image.split_once('@') {
            return name.to_string();
        }
    }
    c.image.clone()
}

fn container_names(c: &ContainerSummary, trunc: bool) -> String {
    let names: Vec<&str> = c
        .names
        .iter()
        .map(|n| n.strip_prefix('/').unwrap_or(n))
        .collect();
    if trunc {
        // Without --no-trunc, only the container's own name, not legacy link aliases.
        if let Some(own) = names.iter().find(|n| !n.contains('/')) {
            return own.to_string();
        }
    }
    names.join(",")
}

/// The docker CLI's `DisplayablePorts`: consecutive ports grouped into ranges, published
/// ports as `ip:public->private/proto`.
pub(crate) fn displayable_ports(ports: &[Port]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| {
        (a.private_port, &a.ip, a.public_port, &a.kind).cmp(&(
            b.private_port,
            &b.ip,
            b.public_port,
            &b.kind,
        ))
    });
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ports {
        let current = p.private_port;
        let key = if p.ip.is_empty() {
            p.kind.clone()
        } else {
            if p.public_port != current {
                let host = if p.ip.contains(':') {
                    format!("[{}]:{}", p.ip, p.public_port)
                } else {
                    format!("{}:{}", p.ip, p.public_port)
                };
                host_mappings.push(format!("{host}->{}/{}", p.private_port, p.kind));
                continue;
            }
            format!("{}/{}", p.ip, p.kind)
        };
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, current, current)),
            Some(g) if current == g.2.wrapping_add(1) => g.2 = current,
            Some(g) => {
                result.push(form_group(&g.0, g.1, g.2));
                g.1 = current;
                g.2 = current;
            }
        }
    }
    for (key, first, last) in &groups {
        result.push(form_group(key, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, kind) = match key.rsplit_once('/') {
        Some((ip, kind)) => (ip, kind),
        None => ("", key),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{ip}:{group}->{group}");
    }
    format!("{group}/{kind}")
}

/// Which digests image rows carry (docker's `imageFormatTaggedAndDigest`).
#[derive(Clone, Copy, Debug)]
struct Digests {
    /// `--digests`: a row per digest, also for repositories known only by digest.
    shown: bool,
    /// `--digests` or a format naming `{{.Digest}}`: tagged rows carry their digests.
    needed: bool,
}

fn image_rows(i: &ImageSummary, trunc: bool, digests: Digests) -> Vec<Row> {
    let dangling = (i.repo_tags.is_empty() && i.repo_digests.is_empty())
        || (i.repo_tags == ["<none>:<none>"] && i.repo_digests == ["<none>@<none>"]);
    // (repository, tag, digest)
    let mut refs: Vec<(String, String, String)> = Vec::new();
    if dangling {
        refs.push(("<none>".into(), "<none>".into(), "<none>".into()));
    } else {
        // Repositories in the order first seen (docker walks a Go map: any order).
        let mut repos: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
        fn entry(repos: &mut Vec<(String, Vec<String>, Vec<String>)>, repo: String) -> usize {
            match repos.iter().position(|(r, _, _)| *r == repo) {
                Some(n) => n,
                None => {
                    repos.push((repo, Vec::new(), Vec::new()));
                    repos.len() - 1
                }
            }
        }
        for t in &i.repo_tags {
            if let Some((repo, tag)) = split_tag(t) {
                let n = entry(&mut repos, familiar(repo));
                repos[n].1.push(tag.to_string());
            }
        }
        for d in &i.repo_digests {
            if let Some((repo, digest)) = d.split_once('@') {
                let n = entry(&mut repos, familiar(repo));
                repos[n].2.push(digest.to_string());
            }
        }
        for (repo, tags, ds) in &repos {
            if tags.is_empty() {
                continue;
            }
            for tag in tags {
                if !digests.needed || ds.is_empty() {
                    refs.push((repo.clone(), tag.clone(), "<none>".into()));
                    continue;
                }
                for d in ds {
                    refs.push((repo.clone(), tag.clone(), d.clone()));
                }
            }
        }
        // Repositories known only by digest.
        for (repo, tags, ds) in &repos {
            if !tags.is_empty() {
                continue;
            }
            if digests.shown {
                for d in ds {
                    refs.push((repo.clone(), "<none>".into(), d.clone()));
                }
            } else {
                refs.push((repo.clone(), "<none>".into(), String::new()));
            }
        }
    }
    refs.into_iter()
        .map(|(repo, tag, digest)| {
            let mut row = Row::new();
            let id = if trunc { truncate_id(&i.id) } else { &i.id[..] };
            put(&mut row, "ID", id.to_string());
            put(&mut row, "Repository", repo);
            put(&mut row, "Tag", tag);
            put(&mut row, "Digest", digest);
            put(
                &mut row,
                "CreatedSince",
                if i.created == 0 {
                    "N/A".into()
                } else {
                    ago(i.created)
                },
            );
            put(&mut row, "CreatedAt", go_time_string(i.created));
            put(&mut row, "Size", human_size(i.size as f64));
            // Daemons with API >= 1.44 omit VirtualSize; the docker client fills in Size.
            let virtual_size = i.virtual_size.filter(|&v| v != 0).unwrap_or(i.size);
            put(
                &mut row,
                "VirtualSize",
                human_size_prec(virtual_size as f64, 4),
            );
            put(&mut row, "Containers", count_or_na(i.containers));
            put(
                &mut row,
                "SharedSize",
                if i.shared_size == -1 {
                    "N/A".into()
                } else {
                    human_size(i.shared_size as f64)
                },
            );
            put(
                &mut row,
                "UniqueSize",
                if i.shared_size == -1 || i.size == -1 {
                    "N/A".into()
                } else {
                    human_size((i.size - i.shared_size) as f64)
                },
            );
            row
        })
        .collect()
}

fn put(row: &mut Row, field: &'static str, value: impl Into<String>) {
    row.insert(field, Cell::Text(value.into()));
}

fn count_or_na(n: i64) -> String {
    if n == -1 { "N/A".into() } else { n.to_string() }
}

/// Splits `repo:tag`; the tag follows the last `:` after the last `/` (a registry port is
/// not a tag).
fn split_tag(reference: &str) -> Option<(&str, &str)> {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    let colon = reference[slash..].rfind(':')? + slash;
    Some((&reference[..colon], &reference[colon + 1..]))
}

/// `reference.FamiliarName`: `docker.io/library/busybox` → `busybox`.
fn familiar(repo: &str) -> String {
    let repo = repo.strip_prefix("docker.io/").unwrap_or(repo);
    repo.strip_prefix("library/").unwrap_or(repo).to_string()
}

fn ps_header(field: &str) -> &str {
    match field {
        "ID" => "CONTAINER ID",
        "Image" => "IMAGE",
        "Command" => "COMMAND",
        "CreatedAt" => "CREATED AT",
        "RunningFor" => "CREATED",
        "Ports" => "PORTS",
        "State" => "STATE",
        "Status" => "STATUS",
        "Size" => "SIZE",
        "Names" => "NAMES",
        "Labels" => "LABELS",
        "Mounts" => "MOUNTS",
        "Networks" => "NETWORKS",
        "LocalVolumes" => "LOCAL VOLUMES",
        "Platform" => "PLATFORM",
        other => other,
    }
}

fn image_header(field: &str) -> &str {
    match field {
        "ID" => "IMAGE ID",
        "Repository" => "REPOSITORY",
        "Tag" => "TAG",
        "Digest" => "DIGEST",
        "CreatedSince" => "CREATED",
        "CreatedAt" => "CREATED AT",
        "Size" => "SIZE",
        "SharedSize" => "SHARED SIZE",
        "UniqueSize" => "UNIQUE SIZE",
        "VirtualSize" => "VIRTUAL SIZE",
        "Containers" => "CONTAINERS",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: &str, private: u16, public: u16, kind: &str) -> Port {
        Port {
            ip: ip.into(),
            private_port: private,
            public_port: public,
            kind: kind.into(),
        }
    }

    #[test]
    fn ports_like_docker() {
        assert_eq!(displayable_ports(&[]), "");
        assert_eq!(displayable_ports(&[port("", 80, 0, "tcp")]), "80/tcp");
        assert_eq!(
            displayable_ports(&[
                port("", 80, 0, "tcp"),
                port("", 81, 0, "tcp"),
                port("", 82, 0, "tcp"),
                port("", 53, 0, "udp"),
            ]),
            "53/udp, 80-82/tcp"
        );
        assert_eq!(
            displayable_ports(&[
                port("0.0.0.0", 80, 8080, "tcp"),
                port("::", 80, 8080, "tcp")
            ]),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(
            displayable_ports(&[port("0.0.0.0", 9000, 9000, "tcp")]),
            "0.0.0.0:9000->9000/tcp"
        );
    }

    fn opts(args: &[&str]) -> ListOpts {
        let argv = ["ps"].iter().chain(args).map(std::ffi::OsString::from);
        match crate::args::parse(argv).map(|cli| cli.command) {
            Ok(crate::args::Command::Ps(o) | crate::args::Command::Images(o)) => o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn filters_as_docker_sends_them() {
        let f = |pairs: &[(&str, &str)]| filters_json(pairs.iter().copied());
        assert_eq!(f(&[]), None);
        assert_eq!(
            f(&[
                ("status", "running"),
                ("label", "b"),
                ("label", "a=1"),
                ("status", "running")
            ])
            .as_deref(),
            Some(r#"{"label":{"a=1":true,"b":true},"status":{"running":true}}"#)
        );
        assert_eq!(
            f(&[("name", "<a&\"b\\>\n\u{1}\u{2028}é")]).as_deref(),
            Some(r#"{"name":{"\u003ca\u0026\"b\\\u003e\n\u0001\u2028é":true}}"#)
        );
        assert_eq!(query_escape("{\"a b\":~é}"), "%7B%22a+b%22%3A~%C3%A9%7D");
    }

    #[test]
    fn options_become_dockers_query() {
        let ps = |args: &[&str]| {
            let o = opts(args);
            let format = parse_format(&o, PS_TABLE, PS_FIELDS).unwrap_or_else(|e| panic!("{e:?}"));
            ps_path(&o, wants_size(&o, &format))
        };
        assert_eq!(ps(&[]), "/containers/json");
        assert_eq!(
            ps(&["-a", "-f", "Status= exited ", "-n", "2", "-s"]),
            "/containers/json?all=1&filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D&limit=2&size=1"
        );
        assert_eq!(ps(&["-l"]), "/containers/json?limit=1");
        assert_eq!(ps(&["-l", "-n", "5"]), "/containers/json?limit=5");
        assert_eq!(ps(&["--format", "json"]), "/containers/json");
        assert_eq!(ps(&["--format", "{{json .}}"]), "/containers/json?size=1");
        assert_eq!(
            ps(&["--format", "{{.Size}}", "--size=false"]),
            "/containers/json"
        );
        assert_eq!(ps(&["--format", "{{.Size}}", "-q"]), "/containers/json");
        let mut images = opts(&["-a", "--filter", "dangling=true"]);
        images.reference = Some("bb:latest".into());
        assert_eq!(
            images_path(&images),
            "/images/json?all=1&filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%2C%22reference%22%3A%7B%22bb%3Alatest%22%3Atrue%7D%7D"
        );
        let mut o = ListOpts::default();
        assert!(o.add_filter("").is_ok() && o.filters.is_empty());
        assert_eq!(
            o.add_filter("nope"),
            Err(
                "invalid argument \"nope\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"
                    .into()
            )
        );
    }

    #[test]
    fn image_rows_carry_digests_as_docker_does() {
        let image = ImageSummary {
            id: "sha256:0123456789abcdef".into(),
            repo_tags: vec!["a:1".into(), "a:2".into()],
            repo_digests: vec!["a@sha256:aa".into(), "b@sha256:bb".into()],
            ..ImageSummary::default()
        };
        let rows = |shown, needed| -> Vec<String> {
            image_rows(&image, true, Digests { shown, needed })
                .iter()
                .map(|r| {
                    ["Repository", "Tag", "Digest"]
                        .map(|f| match r.get(f) {
                            Some(Cell::Text(t) | Cell::Json(t)) => t.as_str(),
                            Some(Cell::Labels(_)) | None => "?",
                        })
                        .join(" ")
                })
                .collect()
        };
        assert_eq!(
            rows(false, false),
            ["a 1 <none>", "a 2 <none>", "b <none> "]
        );
        assert_eq!(
            rows(true, true),
            ["a 1 sha256:aa", "a 2 sha256:aa", "b <none> sha256:bb"]
        );
        assert_eq!(
            rows(false, true),
            ["a 1 sha256:aa", "a 2 sha256:aa", "b <none> "]
        );
    }

    #[test]
    fn references() {
        assert_eq!(split_tag("busybox:latest"), Some(("busybox", "latest")));
        assert_eq!(split_tag("reg:5000/a/b:1.0"), Some(("reg:5000/a/b", "1.0")));
        assert_eq!(split_tag("reg:5000/a/b"), None);
        assert_eq!(familiar("docker.io/library/busybox"), "busybox");
    }
}

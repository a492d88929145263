//! `dockstat ps` and `dockstat images`: the `docker ps` / `docker images` listings.
//!
//! Each container or image becomes a [`Row`] holding the fields the docker CLI's formatter
//! offers, rendered exactly as it renders them, so `--format` templates, `table` and `json`
//! print what docker prints.

use std::io::Write;

use dockstat::Error;
use dockstat::api::{ContainerSummary, ImageSummary, Port};
use dockstat::engine::Client;

use crate::Failure;
use crate::format::{Cell, Format, Row};
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

/// Options shared by `ps` and `images`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ListOpts {
    pub(crate) all: bool,
    pub(crate) quiet: bool,
    pub(crate) no_trunc: bool,
    pub(crate) format: Option<String>,
}

pub(crate) fn ps(client: &mut Client, opts: &ListOpts, out: &mut dyn Write) -> Result<(), Failure> {
    let format = parse_format(opts, PS_TABLE, PS_FIELDS)?;
    let mut query = Vec::new();
    if opts.all {
        query.push("all=1");
    }
    // Like docker: ask the daemon to compute sizes (costly) only when they are shown.
    if !opts.quiet && format.uses("Size") {
        query.push("size=1");
    }
    let path = if query.is_empty() {
        "/containers/json".to_string()
    } else {
        format!("/containers/json?{}", query.join("&"))
    };
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
    let rows: Vec<Row> = containers
        .iter()
        .map(|c| container_row(c, !opts.no_trunc))
        .collect();
    format
        .write(out, &rows, &|f| ps_header(f).to_string())
        .map_err(Failure::Output)
}

pub(crate) fn images(
    client: &mut Client,
    opts: &ListOpts,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let format = parse_format(opts, IMAGES_TABLE, IMAGE_FIELDS)?;
    let path = if opts.all {
        "/images/json?all=1"
    } else {
        "/images/json"
    };
    let mut body = fetch(client, path)?;
    let images = ImageSummary::parse_list(&mut body)?;
    if opts.quiet {
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
    let rows: Vec<Row> = images
        .iter()
        .flat_map(|i| image_rows(i, !opts.no_trunc))
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

fn fetch(client: &mut Client, path: &str) -> Result<Vec<u8>, Error> {
    let response = client.get_api(path)?;
    if response.code >= 400 {
        let target = client.api_version()?.path(path);
        return Err(response.status_error(client.endpoint().url(), &target));
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
    put(
        &mut row,
        "Labels",
        c.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    );
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

fn image_rows(i: &ImageSummary, trunc: bool) -> Vec<Row> {
    let dangling = (i.repo_tags.is_empty() && i.repo_digests.is_empty())
        || (i.repo_tags == ["<none>:<none>"] && i.repo_digests == ["<none>@<none>"]);
    let mut refs: Vec<(String, String)> = Vec::new();
    if dangling {
        refs.push(("<none>".into(), "<none>".into()));
    } else {
        for t in &i.repo_tags {
            if let Some((repo, tag)) = split_tag(t) {
                refs.push((familiar(repo), tag.to_string()));
            }
        }
        // Repositories known only by digest get a row without a tag.
        for d in &i.repo_digests {
            if let Some((repo, _)) = d.split_once('@') {
                let repo = familiar(repo);
                if !refs.iter().any(|(r, _)| *r == repo) {
                    refs.push((repo, "<none>".into()));
                }
            }
        }
    }
    refs.into_iter()
        .map(|(repo, tag)| {
            let mut row = Row::new();
            let id = if trunc { truncate_id(&i.id) } else { &i.id[..] };
            put(&mut row, "ID", id.to_string());
            put(&mut row, "Repository", repo);
            put(&mut row, "Tag", tag);
            put(&mut row, "Digest", "<none>");
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

    #[test]
    fn references() {
        assert_eq!(split_tag("busybox:latest"), Some(("busybox", "latest")));
        assert_eq!(split_tag("reg:5000/a/b:1.0"), Some(("reg:5000/a/b", "1.0")));
        assert_eq!(split_tag("reg:5000/a/b"), None);
        assert_eq!(familiar("docker.io/library/busybox"), "busybox");
    }
}

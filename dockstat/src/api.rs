//! Typed views of the Docker API's listing documents: `/containers/json` and `/images/json`.
//!
//! These are read once per listing, not per frame, so they are decoded into owned structs
//! through simd-json's borrowed value (the per-frame stats path has its own allocation-free
//! decoder in [`crate::stats`]). Fields the daemon omits or sends as `null` take their empty
//! value, as the docker CLI treats them; a document of the wrong shape (an object where the
//! list belongs, a string where a number belongs) is a [`DecodeError::Shape`].

#![forbid(unsafe_code)]

use simd_json::BorrowedValue;
use simd_json::prelude::*;

use crate::error::{DecodeError, Error, ErrorKind, Result};

/// One entry of `GET /containers/json`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSummary {
    /// The full 64-hex-digit id.
    pub id: String,
    /// Names with their leading `/` (and `/other/alias` names of legacy links).
    pub names: Vec<String>,
    /// The image as the user named it (or its id).
    pub image: String,
    pub image_id: String,
    pub command: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    pub ports: Vec<Port>,
    /// Labels in the daemon's order.
    pub labels: Vec<(String, String)>,
    /// `running`, `exited`, `paused`, `created`, `restarting`, `removing`, `dead`.
    pub state: String,
    /// Human status as the daemon words it: `Up 5 minutes`, `Exited (0) 2 hours ago`.
    pub status: String,
    /// Size of the writable layer, when asked for with `size=1`.
    pub size_rw: Option<i64>,
    pub size_root_fs: Option<i64>,
    pub mounts: Vec<Mount>,
    /// Names of the networks the container is attached to.
    pub networks: Vec<String>,
    /// `ImageManifestDescriptor.platform` (API >= 1.48) as compact JSON, when present.
    pub platform: Option<String>,
}

impl ContainerSummary {
    /// Decodes a `/containers/json` body (the buffer is used as scratch space by the parser).
    pub fn parse_list(body: &mut [u8]) -> Result<Vec<ContainerSummary>> {
        parse_containers(body)
    }

    /// The first name without its leading `/`.
    pub fn name(&self) -> &str {
        self.names
            .first()
            .map_or("", |n| n.strip_prefix('/').unwrap_or(n))
    }
}

/// A published or exposed port of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Port {
    pub ip: String,
    pub private_port: u16,
    pub public_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub kind: String,
}

/// A mount of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    /// Volume name (empty for bind mounts).
    pub name: String,
    pub source: String,
    pub driver: String,
}

/// One entry of `GET /images/json`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSummary {
    /// `sha256:` and 64 hex digits.
    pub id: String,
    pub parent_id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    pub size: i64,
    /// -1 when the daemon did not compute it.
    pub shared_size: i64,
    /// -1 when the daemon did not compute it.
    pub containers: i64,
    /// The deprecated `VirtualSize` (omitted since API 1.44).
    pub virtual_size: Option<i64>,
    pub labels: Vec<(String, String)>,
}

impl ImageSummary {
    /// Decodes an `/images/json` body (the buffer is used as scratch space by the parser).
    pub fn parse_list(body: &mut [u8]) -> Result<Vec<ImageSummary>> {
        parse_images(body)
    }
}

/// One entry of the `/events` stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonEvent {
    /// `container`, `network`, `image`, …
    pub kind: String,
    /// `create`, `start`, `die`, `stop`, `destroy`, `pause`, … (for some, with a suffix after
    /// a colon, such as `exec_start: sh`).
    pub action: String,
    /// The object's id (`Actor.ID`).
    pub id: String,
    /// `Actor.Attributes`: for containers, `name`, `image` and the container's labels.
    pub attributes: Vec<(String, String)>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

impl DaemonEvent {
    /// Decodes one `/events` document (the buffer is used as scratch space by the parser).
    ///
    /// Reads `Type`, `Action` and `Actor` (the legacy `status`/`id`/`from` fields are gone
    /// from newer API versions); a document without them is a [`DecodeError::Shape`].
    pub fn parse(doc: &mut [u8]) -> Result<DaemonEvent> {
        parse_event(doc)
    }

    /// An attribute's value.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// See [`DaemonEvent::parse`].
pub(crate) fn parse_event(doc: &mut [u8]) -> Result<DaemonEvent> {
    let mut repaired = repair_utf8(doc);
    let doc = repaired.as_deref_mut().unwrap_or(doc);
    let v = parse_document(doc, "event")?;
    if v.as_object().is_none() {
        return Err(shape("event"));
    }
    let actor = v.get("Actor");
    let attributes = actor
        .and_then(|a| a.get("Attributes"))
        .and_then(|a| a.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let event = DaemonEvent {
        kind: string(&v, "Type"),
        action: string(&v, "Action"),
        id: actor.map(|a| string(a, "ID")).unwrap_or_default(),
        attributes,
        time_nano: int(&v, "timeNano"),
    };
    if event.kind.is_empty() || event.action.is_empty() {
        return Err(shape("event"));
    }
    Ok(event)
}

/// See [`ContainerSummary::parse_list`].
pub(crate) fn parse_containers(body: &mut [u8]) -> Result<Vec<ContainerSummary>> {
    let mut repaired = repair_utf8(body);
    let body = repaired.as_deref_mut().unwrap_or(body);
    let doc = parse_document(body, "container list")?;
    let items = doc.as_array().ok_or_else(|| shape("container list"))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.as_object().is_none() {
            return Err(shape("container list entry"));
        }
        let networks = item
            .get("NetworkSettings")
            .and_then(|n| n.get("Networks"))
            .and_then(|n| n.as_object())
            .map(|m| m.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default();
        let ports = array(item, "Ports")
            .map(|p| Port {
                ip: string(p, "IP"),
                private_port: int(p, "PrivatePort").try_into().unwrap_or(0),
                public_port: int(p, "PublicPort").try_into().unwrap_or(0),
                kind: string(p, "Type"),
            })
            .collect();
        let mounts = array(item, "Mounts")
            .map(|m| Mount {
                name: string(m, "Name"),
                source: string(m, "Source"),
                driver: string(m, "Driver"),
            })
            .collect();
        out.push(ContainerSummary {
            id: string(item, "Id"),
            names: strings(item, "Names"),
            image: string(item, "Image"),
            image_id: string(item, "ImageID"),
            command: string(item, "Command"),
            created: int(item, "Created"),
            ports,
            labels: labels(item),
            state: string(item, "State"),
            status: string(item, "Status"),
            size_rw: item.get("SizeRw").and_then(|v| v.as_i64()),
            size_root_fs: item.get("SizeRootFs").and_then(|v| v.as_i64()),
            mounts,
            networks,
            platform: item
                .get("ImageManifestDescriptor")
                .and_then(|d| d.get("platform"))
                .and_then(platform_json),
        });
    }
    Ok(out)
}

/// See [`ImageSummary::parse_list`].
fn parse_images(body: &mut [u8]) -> Result<Vec<ImageSummary>> {
    let mut repaired = repair_utf8(body);
    let body = repaired.as_deref_mut().unwrap_or(body);
    let doc = parse_document(body, "image list")?;
    let items = doc.as_array().ok_or_else(|| shape("image list"))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.as_object().is_none() {
            return Err(shape("image list entry"));
        }
        out.push(ImageSummary {
            id: string(item, "Id"),
            parent_id: string(item, "ParentId"),
            repo_tags: strings(item, "RepoTags"),
            repo_digests: strings(item, "RepoDigests"),
            created: int(item, "Created"),
            size: int(item, "Size"),
            shared_size: item
                .get("SharedSize")
                .and_then(|v| v.as_i64())
                .unwrap_or(-1),
            containers: item
                .get("Containers")
                .and_then(|v| v.as_i64())
                .unwrap_or(-1),
            virtual_size: item.get("VirtualSize").and_then(|v| v.as_i64()),
            labels: labels(item),
        });
    }
    Ok(out)
}

/// A copy of `body` with each invalid UTF-8 sequence replaced by U+FFFD, if it has any.
///
/// Go's encoder never writes invalid UTF-8 (it writes U+FFFD instead), but a broken daemon or
/// proxy may, and simd-json rightly rejects such a document. A listing or an event is about
/// many containers or none in particular: rejecting it for one bad name would hide every
/// container of the host (discovery would fail and retry forever). So these documents are
/// read as Go would have written them. (A stats frame is about one container: one with a
/// broken string is still an error, for that stream alone.)
fn repair_utf8(body: &[u8]) -> Option<Vec<u8>> {
    std::str::from_utf8(body)
        .is_err()
        .then(|| String::from_utf8_lossy(body).into_owned().into_bytes())
}

/// Parses a whole JSON document, mapping parser errors to [`DecodeError`] with the offset.
pub(crate) fn parse_document<'a>(body: &'a mut [u8], what: &str) -> Result<BorrowedValue<'a>> {
    simd_json::to_borrowed_value(body).map_err(|e| {
        let kind = match e.error() {
            simd_json::ErrorType::DepthLimitExceeded => DecodeError::TooDeep,
            _ => DecodeError::Syntax,
        };
        let mut err = Error::new(ErrorKind::Decode(kind)).context(what);
        err.set_offset(e.index() as u64);
        err
    })
}

/// An OCI platform as Go's `json.Marshal` writes `ocispec.Platform`: fields in struct order,
/// empty ones omitted.
fn platform_json(p: &BorrowedValue<'_>) -> Option<String> {
    p.as_object()?;
    let mut fields = Vec::new();
    for key in ["architecture", "os", "os.version", "os.features", "variant"] {
        let Some(v) = p.get(key) else { continue };
        let empty = v.as_str().is_some_and(str::is_empty)
            || v.as_array().is_some_and(|a| a.is_empty())
            || v.is_null();
        if !empty {
            fields.push(format!("\"{key}\":{}", v.encode()));
        }
    }
    Some(format!("{{{}}}", fields.join(",")))
}

fn shape(what: &str) -> Error {
    Error::new(ErrorKind::Decode(DecodeError::Shape)).context(what)
}

fn string(v: &BorrowedValue<'_>, key: &str) -> String {
    v.get(key)
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_string()
}

fn int(v: &BorrowedValue<'_>, key: &str) -> i64 {
    v.get(key).and_then(|n| n.as_i64()).unwrap_or(0)
}

fn array<'v, 'a>(
    v: &'v BorrowedValue<'a>,
    key: &str,
) -> impl Iterator<Item = &'v BorrowedValue<'a>> + 'v {
    v.get(key)
        .and_then(|a| a.as_array())
        .into_iter()
        .flat_map(|a| a.iter())
}

fn strings(v: &BorrowedValue<'_>, key: &str) -> Vec<String> {
    array(v, key)
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn labels(v: &BorrowedValue<'_>) -> Vec<(String, String)> {
    v.get("Labels")
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The daemon's error message from a `{"message":"…"}` body, or the body itself.
pub(crate) fn daemon_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("{\"message\":\"") {
        if let Some(msg) = rest.strip_suffix("\"}") {
            return msg.replace("\\\"", "\"");
        }
    }
    text.to_string()
}

/// The `message` of a Docker error document (`{"message":"…"}`, decoded), `Some("")` for a
/// JSON object without one, or `None` when the body is not a JSON object.
pub(crate) fn json_message(body: &[u8]) -> Option<String> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[start] != b'{' || body.len() > 1 << 20 {
        return None;
    }
    let mut copy = body.to_vec();
    let value = simd_json::to_borrowed_value(&mut copy).ok()?;
    let object = value.as_object()?;
    Some(
        object
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents_are_decoded() {
        assert_eq!(
            json_message(b"{\"message\":\"No such container: a\\\\b \\\"q\\\"\"}\n").as_deref(),
            Some("No such container: a\\b \"q\"")
        );
        assert_eq!(json_message(b" {\"other\":1}").as_deref(), Some(""));
        assert_eq!(json_message(b"<html>404</html>"), None);
        assert_eq!(json_message(b"{not json"), None);
        assert_eq!(json_message(b""), None);
    }

    #[test]
    fn containers_from_the_real_daemon() {
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/docker20-cgv1/docker20-containers-json-all.http"
        ))
        .expect("fixture");
        // The capture is one chunk: "<hex>\r\n<json>\r\n0\r\n\r\n" after the head.
        let body_start = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let body = &raw[body_start..];
        let json_start = body.iter().position(|&b| b == b'\n').unwrap() + 1;
        let json_end = body.len() - b"\r\n0\r\n\r\n".len();
        let mut json = body[json_start..json_end].to_vec();
        let list = parse_containers(&mut json).unwrap();
        assert_eq!(list.len(), 8);
        let paused = list.iter().find(|c| c.name() == "paused").unwrap();
        assert_eq!(paused.state, "paused");
        assert_eq!(paused.command, "sleep 100000");
        assert_eq!(paused.networks, ["none"]);
        assert_eq!(paused.id.len(), 64);
    }

    #[test]
    fn events_from_the_real_daemon() {
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/docker20-cgv1/docker20-events.http"
        ))
        .expect("fixture");
        let body = &raw[raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        let mut events = Vec::new();
        for line in body.split(|&b| b == b'\n') {
            if let Some(start) = line.iter().position(|&b| b == b'{') {
                events.push(parse_event(&mut line[start..].to_vec()).unwrap());
            }
        }
        let actions: Vec<String> = events
            .iter()
            .map(|e| format!("{}:{}", e.kind, e.action))
            .collect();
        assert_eq!(
            actions,
            [
                "container:create",
                "network:connect",
                "container:start",
                "container:kill",
                "container:kill",
                "container:die",
                "network:disconnect",
                "container:stop",
                "container:destroy"
            ]
        );
        assert_eq!(events[0].attribute("name"), Some("evt"));
        assert_eq!(events[0].id.len(), 64);
        assert!(events[0].time_nano > 1_700_000_000_000_000_000);
    }

    #[test]
    fn invalid_utf8_in_names_is_replaced_not_fatal() {
        let mut list =
            b"[{\"Id\":\"a\",\"Names\":[\"/bad\xff\"]},{\"Id\":\"b\",\"Names\":[\"/good\"]}]"
                .to_vec();
        let list = parse_containers(&mut list).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name(), "bad\u{fffd}");
        assert_eq!(list[1].name(), "good");
        let mut event = b"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"a\",\"Attributes\":{\"name\":\"x\xc3\"}}}".to_vec();
        let event = parse_event(&mut event).unwrap();
        assert_eq!(event.attribute("name"), Some("x\u{fffd}"));
        // Outside a string it is still a syntax error.
        let err = parse_containers(&mut b"[\xff]".to_vec()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode(DecodeError::Syntax));
    }

    #[test]
    fn shapes_and_syntax() {
        let err = parse_containers(&mut b"{\"a\":1}".to_vec()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode(DecodeError::Shape));
        let err = parse_images(&mut b"[{\"Id\":\"x\"},".to_vec()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode(DecodeError::Syntax));
        let mut deep = vec![b'['; 5000];
        deep.extend(vec![b']'; 5000]);
        let err = parse_images(&mut deep).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode(DecodeError::TooDeep));
        let ok =
            parse_images(&mut b"[{\"Id\":\"sha256:1\",\"RepoTags\":null,\"Size\":5}]".to_vec())
                .unwrap();
        assert_eq!(ok[0].size, 5);
        assert!(ok[0].repo_tags.is_empty());
        assert_eq!(ok[0].shared_size, -1);
    }
}

//! Docker events: what the model announces when a container changes state, the JSON the daemon
//! writes for each on `GET /events`, and the `filters` parameter that selects them.
//!
//! Shapes are those of `docker20-events.http`:
//! - container events carry the legacy `status`/`id`/`from` triple, then `Type`, `Action`,
//!   `Actor{ID, Attributes}`, `scope`, `time`, `timeNano`. The attributes are the image, the
//!   name, the action's own attribute (`signal` for kill, `exitCode` for die) and the
//!   container's labels, sorted by key as Go's encoder sorts a map;
//! - network events (`connect` on start, `disconnect` on stop) have no legacy triple; their
//!   actor is the network, with the container's id among the attributes.
//!
//! Filters follow moby's `events.Filter`: the keys the daemon accepts, OR between the values of
//! a key, AND between keys; `container`/`network`/... match the actor's id or `name` attribute
//! by prefix (moby's `FuzzyMatch`), `label` must match every `key` or `key=value` given. Both the
//! current `{"type":{"container":true}}` and the legacy `{"type":["container"]}` forms parse.
//!
//! Not here: `since`/`until` (the sim keeps no event history, so a subscriber sees only events
//! that happen after it connected, and never reaches an `until`), and the image/volume/daemon
//! events the sim never emits.

use simd_json::prelude::*;

use super::json::{push_str, push_u64};
use super::model::{Event, IMAGE_NAME, Model, Net};
use super::time::SECOND;

/// A rendered event: the JSON line to send, and what filters look at.
#[derive(Clone, Debug)]
pub(crate) struct Message {
    typ: &'static str,
    action: &'static str,
    actor: String,
    /// Sorted by key.
    attributes: Vec<(&'static str, String)>,
    /// The event JSON plus the `\n` Go's `json.Encoder` writes after it.
    pub(crate) json: Vec<u8>,
}

impl Message {
    pub(crate) fn new(ev: &Event, model: &Model) -> Message {
        let (typ, actor, attributes) = match ev.network {
            Some(net) => {
                let (id, name, driver) = match net {
                    Net::None => (model.none_net_id.as_str(), "none", "null"),
                    Net::Bridge => (model.bridge_net_id.as_str(), "bridge", "bridge"),
                };
                let attrs = vec![
                    ("container", ev.container.to_string()),
                    ("name", name.to_owned()),
                    ("type", driver.to_owned()),
                ];
                ("network", id.to_owned(), attrs)
            }
            None => {
                let mut attrs = vec![
                    ("image", IMAGE_NAME.to_owned()),
                    ("name", ev.name.to_string()),
                    ("sim", "1".to_owned()),
                    ("sim.workload", ev.label.to_owned()),
                ];
                if let Some((k, v)) = ev.extra {
                    attrs.push((k, v.to_owned()));
                }
                attrs.sort_by(|a, b| a.0.cmp(b.0));
                ("container", ev.container.to_string(), attrs)
            }
        };
        let mut json = Vec::with_capacity(384);
        json.push(b'{');
        if typ == "container" {
            json.extend_from_slice(b"\"status\":");
            push_str(&mut json, ev.action);
            json.extend_from_slice(b",\"id\":");
            push_str(&mut json, &actor);
            json.extend_from_slice(b",\"from\":");
            push_str(&mut json, IMAGE_NAME);
            json.push(b',');
        }
        json.extend_from_slice(b"\"Type\":");
        push_str(&mut json, typ);
        json.extend_from_slice(b",\"Action\":");
        push_str(&mut json, ev.action);
        json.extend_from_slice(b",\"Actor\":{\"ID\":");
        push_str(&mut json, &actor);
        json.extend_from_slice(b",\"Attributes\":{");
        for (i, (k, v)) in attributes.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            push_str(&mut json, k);
            json.push(b':');
            push_str(&mut json, v);
        }
        json.extend_from_slice(b"}},\"scope\":\"local\",\"time\":");
        push_u64(&mut json, ev.time / SECOND);
        json.extend_from_slice(b",\"timeNano\":");
        push_u64(&mut json, ev.time);
        json.extend_from_slice(b"}\n");
        Message {
            typ,
            action: ev.action,
            actor,
            attributes,
            json,
        }
    }

    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The filter keys `GET /events` accepts (moby's `acceptedEventFilterTags`, Docker 20.10).
const ACCEPTED: [&str; 14] = [
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// A parsed `filters` parameter of `/events`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    /// (key, values); keys are from [`ACCEPTED`], each at most once, values non-empty.
    terms: Vec<(&'static str, Vec<String>)>,
}

impl Filter {
    /// Parses the (already percent-decoded) JSON of `filters`. The error is the daemon's
    /// message for a 400.
    pub(crate) fn parse(json: &str) -> Result<Filter, String> {
        if json.trim().is_empty() {
            return Ok(Filter::default());
        }
        let mut bytes = json.as_bytes().to_vec();
        let doc = simd_json::to_borrowed_value(&mut bytes)
            .map_err(|e| format!("invalid filters: {e}"))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| "invalid filters: not a JSON object".to_owned())?;
        let mut terms: Vec<(&'static str, Vec<String>)> = Vec::new();
        for (key, value) in obj.iter() {
            let Some(&key) = ACCEPTED.iter().find(|k| **k == key.as_ref()) else {
                return Err(format!("invalid filter '{key}'"));
            };
            let mut values = Vec::new();
            if let Some(map) = value.as_object() {
                // {"type":{"container":true}}: the keys mapped to true.
                for (v, on) in map.iter() {
                    if on.as_bool() == Some(true) {
                        values.push(v.to_string());
                    }
                }
            } else if let Some(list) = value.as_array() {
                // The legacy {"type":["container"]}.
                for v in list {
                    let v = v
                        .as_str()
                        .ok_or_else(|| format!("invalid filter '{key}': not a string"))?;
                    values.push(v.to_owned());
                }
            } else {
                return Err(format!("invalid filter '{key}'"));
            }
            // A key without values constrains nothing (moby's `ExactMatch` on an empty set).
            if values.is_empty() {
                continue;
            }
            match terms.iter_mut().find(|(k, _)| *k == key) {
                Some((_, vs)) => vs.extend(values),
                None => terms.push((key, values)),
            }
        }
        Ok(Filter { terms })
    }

    /// Whether `m` passes every term.
    pub(crate) fn matches(&self, m: &Message) -> bool {
        self.terms.iter().all(|(key, values)| {
            let any = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
            match *key {
                "type" => any(&|v| v == m.typ),
                "event" => any(&|v| v == m.action),
                "scope" => any(&|v| v == "local"),
                "image" => {
                    let image = m.attribute("image").unwrap_or_default();
                    let short = image.strip_suffix(":latest").unwrap_or(image);
                    any(&|v| !image.is_empty() && (v == image || v == short))
                }
                "label" => values.iter().all(|v| match v.split_once('=') {
                    Some((k, want)) => m.attribute(k) == Some(want),
                    None => m.attribute(v).is_some(),
                }),
                // container, network, daemon, volume, …: moby's `fuzzyMatchName` compares the
                // actor's id and name attribute whatever the event type, by prefix.
                _ => {
                    let name = m.attribute("name").unwrap_or_default();
                    any(&|v| m.actor.starts_with(v) || name.starts_with(v))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::SimConfig;
    use crate::frames::tests::T0;

    fn model() -> Model {
        Model::new(&SimConfig::default(), T0)
    }

    fn event(m: &Model, action: &'static str, network: Option<Net>) -> Event {
        let c = &m.containers[0];
        Event {
            time: T0,
            action,
            extra: (action == "kill").then_some(("signal", "15")),
            network,
            container: Rc::clone(&c.id),
            name: Rc::clone(&c.name),
            label: c.label,
        }
    }

    #[test]
    fn container_and_network_json() {
        let m = model();
        let c = &m.containers[0];
        let kill = Message::new(&event(&m, "kill", None), &m);
        let want = format!(
            concat!(
                r#"{{"status":"kill","id":"{id}","from":"sim/busybox:latest","Type":"container","#,
                r#""Action":"kill","Actor":{{"ID":"{id}","Attributes":{{"image":"sim/busybox:latest","#,
                r#""name":"busy-1","signal":"15","sim":"1","sim.workload":"busy"}}}},"scope":"local","#,
                r#""time":1795416927,"timeNano":1795416927745601815}}"#,
                "\n"
            ),
            id = c.id
        );
        assert_eq!(String::from_utf8_lossy(&kill.json), want);
        let connect = Message::new(&event(&m, "connect", Some(Net::None)), &m);
        let want = format!(
            concat!(
                r#"{{"Type":"network","Action":"connect","Actor":{{"ID":"{net}","Attributes":"#,
                r#"{{"container":"{id}","name":"none","type":"null"}}}},"scope":"local","#,
                r#""time":1795416927,"timeNano":1795416927745601815}}"#,
                "\n"
            ),
            net = m.none_net_id,
            id = c.id
        );
        assert_eq!(String::from_utf8_lossy(&connect.json), want);
    }

    #[test]
    fn filters() {
        let m = model();
        let kill = Message::new(&event(&m, "kill", None), &m);
        let connect = Message::new(&event(&m, "connect", Some(Net::Bridge)), &m);
        let f = |s: &str| Filter::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        for only_containers in [
            r#"{"type":["container"]}"#,
            r#"{"type":{"container":true}}"#,
        ] {
            let filter = f(only_containers);
            assert!(filter.matches(&kill) && !filter.matches(&connect));
        }
        assert!(f("").matches(&connect) && f("{}").matches(&kill));
        assert!(f(r#"{"type":{"container":false}}"#).matches(&connect));
        assert!(f(r#"{"type":["network","container"]}"#).matches(&connect));
        assert!(f(r#"{"event":["kill","die"]}"#).matches(&kill));
        assert!(!f(r#"{"event":["die"]}"#).matches(&kill));
        assert!(f(r#"{"container":["busy"]}"#).matches(&kill));
        assert!(
            f(&format!(
                r#"{{"container":["{}"]}}"#,
                &m.containers[0].id[..8]
            ))
            .matches(&kill)
        );
        assert!(!f(r#"{"container":["busy"]}"#).matches(&connect));
        assert!(f(r#"{"label":["sim.workload=busy","sim"]}"#).matches(&kill));
        assert!(!f(r#"{"label":["sim.workload=idle"]}"#).matches(&kill));
        assert!(f(r#"{"image":["sim/busybox"]}"#).matches(&kill));
        assert!(f(r#"{"type":["container"],"event":["kill"]}"#).matches(&kill));
        assert_eq!(
            Filter::parse(r#"{"colour":["red"]}"#),
            Err("invalid filter 'colour'".to_owned())
        );
        assert!(Filter::parse("{").is_err());
        assert!(Filter::parse("[]").is_err());
        assert!(Filter::parse(r#"{"type":"container"}"#).is_err());
        assert!(Filter::parse(r#"{"type":[1]}"#).is_err());
    }
}

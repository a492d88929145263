//! One container's row of `docker stats`: its fields rendered as docker renders them, and
//! the column titles.

#![forbid(unsafe_code)]

use dockstat::stats::Platform;

use super::Entry;
use crate::format::{Cell, Row};
use crate::units::{bytes_size, human_size, truncate_id};

/// One container's `docker stats` fields, rendered as docker renders them.
pub(super) fn row(e: &Entry, host: Option<&str>, trunc: bool, cpu_host: bool) -> Row {
    let mut row = Row::new();
    let text = |s: String| Cell::Text(s);
    if let Some(host) = host {
        row.insert("Host", text(host.to_string()));
    }
    row.insert("Container", text(e.container.clone()));
    let id = if e.id.is_empty() {
        e.container.clone()
    } else if trunc {
        truncate_id(&e.id).to_string()
    } else {
        e.id.clone()
    };
    row.insert("ID", text(id));
    let name = if e.name.is_empty() {
        "--".to_string()
    } else {
        e.name.clone()
    };
    row.insert("Name", text(name));
    let windows = e.platform == Platform::Windows;
    match (&e.derived, &e.error) {
        (Some(d), None) if !e.stale => {
            let cpu = if cpu_host {
                d.cpu_percent_host
            } else {
                d.cpu_percent
            };
            row.insert("CPUPerc", text(format!("{cpu:.2}%")));
            let mem = if windows {
                bytes_size(d.mem_used)
            } else {
                format!("{} / {}", bytes_size(d.mem_used), bytes_size(d.mem_limit))
            };
            row.insert("MemUsage", text(mem));
            let mem_percent = if windows {
                "--".to_string()
            } else {
                format!("{:.2}%", d.mem_percent)
            };
            row.insert("MemPerc", text(mem_percent));
            row.insert(
                "NetIO",
                text(format!(
                    "{} / {}",
                    human_size(d.net_rx as f64),
                    human_size(d.net_tx as f64)
                )),
            );
            row.insert(
                "BlockIO",
                text(format!(
                    "{} / {}",
                    human_size(d.block_read as f64),
                    human_size(d.block_write as f64)
                )),
            );
            let pids = if windows {
                "--".to_string()
            } else {
                d.pids.to_string()
            };
            row.insert("PIDs", text(pids));
        }
        _ => {
            // No sample yet, or the stream failed: docker's "invalid" row.
            row.insert("CPUPerc", text("--".into()));
            row.insert("MemUsage", text("-- / --".into()));
            row.insert("MemPerc", text("--".into()));
            row.insert("NetIO", text("--".into()));
            row.insert("BlockIO", text("--".into()));
            row.insert("PIDs", text("--".into()));
        }
    }
    row
}

/// The column title docker shows for a field.
pub(super) fn header(field: &str) -> &str {
    match field {
        "Container" => "CONTAINER",
        "Host" => "HOST",
        "ID" => "CONTAINER ID",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        other => other,
    }
}

//! Several stats streams on one reactor, split into frames: the library's building blocks.
//!
//! ```sh
//! cargo run --example streams                      # 3 containers of a simulated daemon
//! cargo run --example streams -- busy-1 idle-2     # these containers of $DOCKER_HOST
//! ```
//!
//! Prints one line per frame (container, frame number, size) and stops after 10 frames per
//! stream.

use std::sync::Arc;

use dockstat::engine::{ConnEvent, Endpoint, Flow, Reactor};
use dockstat::stats::FrameSplitter;
use dockstat_sim::{Listen, Sim, SimConfig};

/// What the caller keeps per stream: the reactor hands it back with every event.
struct Stream {
    name: String,
    frames: FrameSplitter,
    seen: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut names: Vec<String> = std::env::args().skip(1).collect();
    // Without arguments, start a simulated daemon in this process and watch its containers.
    let _sim;
    let endpoint = if names.is_empty() {
        let path =
            std::env::temp_dir().join(format!("dockstat-example-{}.sock", std::process::id()));
        let sim = Sim::start(Listen::Unix(path), SimConfig::default())?;
        let endpoint = Endpoint::parse(&sim.url())?;
        _sim = sim;
        names = vec!["busy-1".into(), "idle-2".into(), "memhog-3".into()];
        endpoint
    } else {
        Endpoint::from_env()?
    };
    let endpoint = Arc::new(endpoint);

    let mut reactor: Reactor<Stream> = Reactor::new(1024)?;
    for name in &names {
        let stream = Stream {
            name: name.clone(),
            frames: FrameSplitter::default(),
            seen: 0,
        };
        reactor.open(&endpoint, &format!("/containers/{name}/stats"), stream)?;
    }

    while !reactor.is_empty() {
        reactor.poll(None, &mut |_, stream, event| match event {
            ConnEvent::Head(head) if head.code != 200 => {
                eprintln!("{}: HTTP {}", stream.name, head.code);
                Flow::Close
            }
            ConnEvent::Body(bytes) => {
                let Stream { name, frames, seen } = stream;
                let result = frames.push(bytes, &mut |frame| {
                    *seen += 1;
                    println!("{name}: frame {seen}, {} bytes", frame.len());
                });
                match result {
                    Ok(()) if *seen >= 10 => Flow::Close,
                    Ok(()) => Flow::Continue,
                    Err(e) => {
                        eprintln!("{name}: {e}");
                        Flow::Close
                    }
                }
            }
            ConnEvent::Failed(e) => {
                eprintln!("{}: {e}", stream.name);
                Flow::Close
            }
            _ => Flow::Continue,
        })?;
    }
    Ok(())
}

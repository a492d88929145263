//! Stats streams split into frames, with the library's building blocks: a [`Client`] per
//! stream (on its own thread) and a [`FrameSplitter`]. The [`Engine`](dockstat::engine::Engine)
//! does this for every container of a host on one thread.
//!
//! ```sh
//! cargo run --example streams                      # 3 containers of a simulated daemon
//! cargo run --example streams -- busy-1 idle-2     # these containers of $DOCKER_HOST
//! ```
//!
//! Prints one line per frame (container, frame number, size) and stops after 10 frames per
//! stream.

use std::thread;

use dockstat::conn::ResponseEvent;
use dockstat::engine::{Client, Control, Endpoint};
use dockstat::stats::FrameSplitter;
use dockstat_sim::{Listen, Sim, SimConfig};

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

    thread::scope(|scope| {
        for name in &names {
            let endpoint = endpoint.clone();
            scope.spawn(move || follow(endpoint, name));
        }
    });
    Ok(())
}

/// Prints the first 10 frames of one container's stats stream.
fn follow(endpoint: Endpoint, name: &str) {
    let mut frames = FrameSplitter::default();
    let mut seen = 0u32;
    let result = Client::new(endpoint).and_then(|mut client| {
        client.stream(
            &format!("/containers/{name}/stats"),
            &mut |event| match event {
                ResponseEvent::Head(head) if head.code != 200 => {
                    eprintln!("{name}: HTTP {}", head.code);
                    Control::Stop
                }
                ResponseEvent::Body(bytes) => {
                    let result = frames.push(bytes, &mut |frame| {
                        seen += 1;
                        println!("{name}: frame {seen}, {} bytes", frame.len());
                    });
                    match result {
                        Ok(()) if seen >= 10 => Control::Stop,
                        Ok(()) => Control::Continue,
                        Err(e) => {
                            eprintln!("{name}: {e}");
                            Control::Stop
                        }
                    }
                }
                _ => Control::Continue,
            },
        )
    });
    if let Err(e) = result {
        eprintln!("{name}: {e}");
    }
}

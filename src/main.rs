//! The `dockstat` binary; see `dockstat --help`.

#![deny(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::main());
}

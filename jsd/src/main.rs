//! `jsd`: the Switchyard join server.

fn main() -> std::process::ExitCode {
    service::cli::main::<jsd::Jsd>()
}

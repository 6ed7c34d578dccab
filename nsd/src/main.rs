//! `nsd`: the Switchyard network server.

fn main() -> std::process::ExitCode {
    service::cli::main::<nsd::Nsd>()
}

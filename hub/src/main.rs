//! `hub`: the Switchyard roaming hub.

fn main() -> std::process::ExitCode {
    service::cli::main::<hub::Hub>()
}

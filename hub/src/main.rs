//! `hub`: the Switchyard roaming hub.

// Routing allocates many small, short-lived objects (JSON maps, strings) on both cores; the
// system allocator spent about a fifth of the hub's CPU on them (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    service::cli::main::<hub::Hub>()
}

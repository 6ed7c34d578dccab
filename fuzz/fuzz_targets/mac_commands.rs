//! MAC commands from a device (FOpts / FPort 0) or a peer: parse both directions, and what
//! parses must encode back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lorawan::mac::{encode_commands, parse_commands, Direction};

fuzz_target!(|data: &[u8]| {
    for direction in [Direction::Uplink, Direction::Downlink] {
        if let Ok(commands) = parse_commands(data, direction) {
            let mut out = Vec::new();
            if encode_commands(&commands, &mut out).is_ok() {
                let again = parse_commands(&out, direction).expect("re-parse what we encoded");
                assert_eq!(again, commands);
            }
        }
    }
});

//! A Backend Interfaces body from a peer: decoding never panics; what decodes re-encodes in
//! every dialect to something that decodes again; what is rejected still has a well-formed
//! answer body with a Result.
#![no_main]

use std::sync::OnceLock;

use backend::{Codec, Dialect};
use libfuzzer_sys::fuzz_target;

fn codec() -> &'static Codec {
    static CODEC: OnceLock<Codec> = OnceLock::new();
    CODEC.get_or_init(|| Codec::new().expect("schemas compile"))
}

fuzz_target!(|data: &[u8]| {
    let codec = codec();
    match codec.decode(data) {
        Ok(message) => {
            for dialect in [Dialect::canonical(), Dialect::chirpstack_v4(), Dialect::tts(), Dialect::helium()] {
                let bytes = codec.encode(&message, &dialect);
                let again = codec.decode(&bytes);
                assert!(again.is_ok(), "re-encoded message rejected: {:?}", again.err());
            }
        }
        Err(rejection) => {
            let body = rejection.answer_json(&Dialect::canonical());
            assert!(body["Result"]["ResultCode"].is_string(), "answer without Result: {body}");
        }
    }
});

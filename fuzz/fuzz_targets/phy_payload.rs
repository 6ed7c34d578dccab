//! A PHYPayload off the air (or out of a PRStartReq): parse, walk every view, verify and
//! decrypt with a fixed key. Nothing may panic; a parse must describe the bytes it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lorawan::crypto::{CipherKey, MicKey};
use lorawan::ids::AesKey;
use lorawan::phy::{Frame, PhyPayload};

fuzz_target!(|data: &[u8]| {
    let Ok(phy) = PhyPayload::parse(data) else { return };
    assert_eq!(phy.bytes(), data);
    let _ = (phy.mhdr(), phy.mtype(), phy.major(), phy.mic(), phy.payload());
    let key = AesKey::new([0x2b; 16]);
    let (mic_key, cipher_key) = (MicKey::new(&key), CipherKey::new(&key));
    match phy.frame() {
        Frame::Data(frame) => {
            let fcnt = u32::from(frame.fcnt16());
            let _ = (frame.dev_addr(), frame.fctrl(), frame.fopts(), frame.fport());
            let _ = frame.check_mac_command_placement();
            let _ = frame.verify_mic_1_0(&mic_key, fcnt);
            let mut out = [0u8; 256];
            let _ = frame.decrypt_frm_payload_into(&cipher_key, fcnt, &mut out);
            let mut fopts = [0u8; lorawan::phy::MAX_FOPTS_LEN];
            let _ = frame.decrypt_fopts_1_1_into(&cipher_key, fcnt, &mut fopts);
        }
        Frame::JoinRequest(request) => {
            let _ = request.verify_mic(&mic_key);
        }
        Frame::JoinAccept(accept) => {
            let plain = accept.decrypt(&cipher_key);
            let _ = plain.verify_mic_1_0(&mic_key);
        }
        Frame::RejoinRequest(rejoin) => {
            let _ = rejoin.verify_mic(&mic_key);
        }
        Frame::Proprietary(_) => {}
    }
});

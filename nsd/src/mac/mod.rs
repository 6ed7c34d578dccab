//! The MAC layer of the network server, sans-IO: MAC commands of LoRaWAN 1.0.x and 1.1 in
//! both directions, with the network's requests tracked until answered, and ADR.
//!
//! The bytes are the `lorawan` crate's business ([`lorawan::mac::parse_commands`],
//! [`lorawan::mac::encode_commands`]); this module decides what the commands mean for one
//! device session, kept in a [`MacState`] the integrator stores (it is serde, as JSON) and
//! hands back with every uplink. Nothing here does I/O or reads a clock: times come in with
//! the uplink ([`UplinkFacts`]).
//!
//! # The life of a MAC command
//!
//! Take an `RXParamSetupReq`, the network asking the device to move its RX2 window.
//!
//! 1. **Wanted.** The device profile ([`MacProfile::wanted`]) says RX2 at DR3, 869.525 MHz;
//!    the device runs what it was last confirmed to run ([`MacState::confirmed`]), DR0.
//! 2. **Planned.** An uplink arrives. [`on_uplink`] processes its commands, then plans: the
//!    wanted parameters differ from the confirmed ones, so an `RXParamSetupReq` is queued in
//!    [`MacState::pending`] (status [`PendingStatus::Queued`]). ADR plans its `LinkADRReq`
//!    the same way, from the SNR history ([`adr`]), and so does the periodic `DevStatusReq`.
//!    Operators queue theirs with [`enqueue`]. [`UplinkOutcome::needs_downlink`] tells the
//!    integrator a downlink is due.
//! 3. **Sent.** The integrator builds the downlink and asks [`commands_for_downlink`] what
//!    goes in FOpts (15 bytes) or in an FPort-0 payload: first the answers the network owes
//!    the uplink (`LinkCheckAns`, `DeviceTimeAns`, `ResetConf`, …), then queued requests in
//!    order, whole (a `LinkADRReq` block is never split). Each request that goes out becomes
//!    [`PendingStatus::Sent`] with the uplink's FCnt and one more attempt. If the gateway
//!    does not transmit the downlink, [`on_downlink_lost`] undoes that.
//! 4. **Answered.** The device applies the request and answers `RXParamSetupAns` in its
//!    next uplink. [`on_uplink`] matches answers with sent requests per CID, in order: all
//!    ACK bits set → [`MacState::confirmed`] takes the request's values and a
//!    [`MacEvent::Confirmed`] is reported; a bit clear → the device kept its previous
//!    parameters, a [`MacEvent::Refused`] is reported and the request is recorded in
//!    [`MacState::abandoned`] so the identical request is not sent again.
//! 5. **Or not.** If the next uplink carries no answer, the request is queued again, up to
//!    [`MacProfile::max_attempts`] sends; then the network gives up
//!    ([`MacEvent::GaveUp`], [`MacState::abandoned`]).
//!
//! Special cases handled on the way:
//!
//! - **Sticky answers.** `RXParamSetupAns`, `RXTimingSetupAns`, `TxParamSetupAns` and
//!   `DlChannelAns` are repeated by the device in every uplink until it receives a downlink
//!   (TS001 1.0.4 / 1.1). A repeat without a pending request is recognised
//!   ([`IgnoreReason::StickyRepeat`]), a downlink is asked for to stop it, and no new request
//!   of that CID is planned while the device still repeats one (a new answer could not be
//!   told from the old one).
//! - **`LinkADRReq` blocks.** Several `LinkADRReq` in one frame form a block the device
//!   applies as a whole (channel masks in order, data rate / power / NbTrans of the last);
//!   1.0.2 to 1.0.4 devices answer each command with a `LinkADRAns` of the same status,
//!   1.1 devices answer the block once.
//! - **0xF.** 1.0.4 and 1.1 devices read `LinkADRReq` DataRate or TXPower 0xF as "keep the
//!   current value"; ADR uses it for the field it does not change, and only for them.
//! - **Device requests.** `LinkCheckReq`, `DeviceTimeReq`, `PingSlotInfoReq`,
//!   `BeaconTimingReq` (1.0.x), and in 1.1 `ResetInd`, `RekeyInd`, `DeviceModeInd` are
//!   answered in the next downlink; their side effects are [`MacEvent`]s.

pub mod adr;
mod plan;
mod state;
mod uplink;

pub use plan::{
    commands_for_downlink, downlink_adr, enqueue, on_downlink_lost, DownlinkMac, EnqueueError,
    MacCarrier, FOPTS_MAX_LEN,
};
pub use state::{
    AbandonReason, Abandoned, Activation, ActivationMode, AdrLimits, DevStatus, DevStatusPolicy,
    DeviceClass, DeviceParams, DlFrequency, ExtraChannel, JoinAcceptSettings, MacProfile, MacState,
    Origin, PendingRequest, PendingStatus, RejoinParams, RequestMark, StoredCommand, TxParams,
    UplinkRecord, ABANDONED_KEPT, HISTORY_LEN,
};
pub use uplink::{
    on_uplink, IgnoreReason, Ignored, MacEvent, UplinkFacts, UplinkOutcome, GPS_EPOCH_UNIX_SECS,
    GPS_LEAP_SECONDS, STICKY_CIDS,
};

#[cfg(test)]
mod tests;

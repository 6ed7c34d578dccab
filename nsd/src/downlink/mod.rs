//! Downlinks: when, where and how a frame goes to a device, and what the AS is told about it.
//!
//! Everything here is sans-IO: nothing sends, stores or reads a clock. The caller passes `now`
//! (and, for class A, the time already spent since the uplink) and acts on the plans; the
//! gateway layer's protocol-neutral types ([`crate::gateway`]) are the vocabulary, and the
//! regional parameters come from [`lorawan::region`].
//!
//! # The flow, for a newcomer
//!
//! 1. **The AS submits a frame** → [`queue::DeviceQueue::enqueue`] (at most five per device;
//!    FPort, clear or AS-encrypted payload with its FCnt, confirmed or not, ValidityTime,
//!    correlation ID). Full, bad FPort or already expired: refused with a
//!    [`queue::QueueError`].
//! 2. **A window opens.**
//!    - *Class A*: an uplink arrived. [`queue::DeviceQueue::on_uplink`] first settles a
//!      confirmed frame awaiting its ACK; then [`queue::DeviceQueue::next_for_transmission`]
//!      drops expired frames (report them) and gives the head plus FPending. The MAC layer
//!      builds the PHYPayload, and [`class_a::plan_class_a`] picks the gateway (best SNR,
//!      then RSSI) and works out RX1 (uplink counter + the session's RX1 delay, the region's
//!      RX1 frequency and data rate with the DR offset) and RX2 (one second later, the
//!      session's RX2 frequency and data rate), skipping a window with its cause when we are
//!      too late (B0), the frame does not fit (C0 for RX1), the policy prefers RX2 (C0), the
//!      dwell time is broken (DB) or the gateway's duty cycle is spent (DA).
//!    - *Class C*: any time. [`class_c::plan_class_c`] sends immediately on the RX2
//!      parameters through the gateway that heard the device best last; refusals are retried
//!      by [`class_c::ClassCAttempts`] until 60 s after the first attempt, then E0.
//!    - *Multicast*: [`multicast::plan_multicast`] sends one frame through every gateway of
//!      the group's tags: GPS-synchronised gateways together at one GPS time, the others in
//!      clusters of gateways at least 7 km apart, one cluster after the other; failed
//!      gateways are retried up to three attempts ([`multicast::MulticastAttempts`]).
//! 3. **The gateway answers** with a [`crate::gateway::TxOutcome`]. On `Sent`: record the
//!    time on air in the [`duty_cycle::DutyCycleLedger`] and call
//!    [`queue::DeviceQueue::sent`] (a confirmed frame then awaits its ACK). Otherwise try the
//!    next window (RX2 after RX1). [`class_a::ClassAPlan::report`] (class A) or
//!    [`class_c::ClassCAttempts`] (class C) then give the [`delivery::DeliveryReport`]: the
//!    `DeliveryStatus`, `DeliveryFailedCause1/2/3` and `TransmissionSlot` of the
//!    `DevEUI_downlink_Sent` report, with `TX_ACK` errors mapped to the seed's codes
//!    ([`delivery::DeliveryFailedCause::from_outcome`]).
//! 4. **Confirmed frames** are never retransmitted by the network server (TS001 1.0.4
//!    §4.3.1.3): the next uplink's ACK bit, or a timeout for silent class B / C devices
//!    ([`queue::DeviceQueue::ack_timeout`]), tells the AS whether the device got it.
//!
//! Time on air (Semtech's LoRa formula, FSK) is in [`airtime`].

pub mod airtime;
pub mod class_a;
pub mod class_c;
pub mod delivery;
pub mod duty_cycle;
pub mod frame;
pub mod multicast;
pub mod queue;

//! The gateway layer: what the rest of the nsd knows about gateways, whatever protocol they
//! speak.
//!
//! A gateway hands us [`Reception`]s (one per frame it heard) and takes [`Transmission`]s (one
//! per frame to send), answering each with a [`TxOutcome`]. The Semtech UDP packet-forwarder
//! protocol is one implementation of [`GatewayLink`]; LoRa Basics Station can be another,
//! without the uplink and downlink logic changing.

pub mod registry;
pub mod semtech;

use std::future::Future;
use std::time::SystemTime;

use lorawan::ids::Eui64;

/// A gateway's identifier (its 64-bit EUI, as the packet forwarder announces it).
pub type GatewayId = Eui64;

/// How a frame was modulated on air, as the gateway reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RadioModulation {
    /// LoRa.
    Lora {
        /// Spreading factor (5..=12).
        spreading_factor: u8,
        /// Bandwidth in Hz.
        bandwidth_hz: u32,
        /// Coding rate as the gateway wrote it ("4/5", "4/6", …), when it did.
        code_rate: Option<CodeRate>,
    },
    /// (G)FSK.
    Fsk {
        /// Bit rate in bit/s.
        bitrate: u32,
    },
    /// LR-FHSS (uplink only).
    LrFhss {
        /// Occupied channel width in Hz.
        occupied_channel_width_hz: u32,
        /// Coding rate.
        code_rate: Option<CodeRate>,
    },
}

/// A LoRa / LR-FHSS coding rate, `4/denominator` for LoRa, or `1/3`, `2/3` for LR-FHSS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeRate {
    /// Numerator.
    pub numerator: u8,
    /// Denominator.
    pub denominator: u8,
}

/// The radio metadata of one reception by one gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct RxInfo {
    /// The gateway that heard the frame.
    pub gateway: GatewayId,
    /// Centre frequency in Hz.
    pub frequency_hz: u32,
    /// Modulation and data rate.
    pub modulation: RadioModulation,
    /// Received signal strength in dBm.
    pub rssi_dbm: i16,
    /// Signal-to-noise ratio in dB (LoRa only; 0 for FSK).
    pub snr_db: f32,
    /// Concentrator IF channel.
    pub channel: u8,
    /// Concentrator RF chain.
    pub rf_chain: u8,
    /// The concentrator's free-running microsecond counter at reception (`tmst`): the
    /// reference a class-A downlink is scheduled against.
    pub counter_us: u32,
    /// UTC time of reception, when the gateway knows it.
    pub time: Option<SystemTime>,
    /// GPS time of reception in milliseconds since the GPS epoch, when the gateway has GPS.
    pub gps_time_ms: Option<u64>,
    /// Fine timestamp in nanoseconds within the second (geolocation-capable gateways).
    pub fine_timestamp_ns: Option<u32>,
}

/// One frame heard by one gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Reception {
    /// The PHYPayload, as received.
    pub phy: Vec<u8>,
    /// How and where it was heard.
    pub rx: RxInfo,
}

/// When a gateway should send a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxTiming {
    /// As soon as possible (class C).
    Immediately,
    /// When the concentrator counter reaches this value (class A: the uplink's counter plus
    /// the receive delay).
    AtCounter(u32),
    /// At this GPS time, in milliseconds since the GPS epoch (class B, multicast).
    AtGpsTime(u64),
}

/// One frame for one gateway to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmission {
    /// The gateway that sends it.
    pub gateway: GatewayId,
    /// When.
    pub timing: TxTiming,
    /// Centre frequency in Hz.
    pub frequency_hz: u32,
    /// Modulation and data rate.
    pub modulation: RadioModulation,
    /// Radiated power in dBm (EIRP).
    pub power_dbm: i8,
    /// Concentrator RF chain to send on.
    pub rf_chain: u8,
    /// Invert the LoRa IQ polarity: true for frames to devices, false for gateway-to-gateway.
    pub invert_polarity: bool,
    /// The PHYPayload to send.
    pub phy: Vec<u8>,
}

/// What became of a [`Transmission`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxOutcome {
    /// The gateway accepted it for transmission (or, for a forwarder that sends no
    /// acknowledgement, it was handed over).
    Sent,
    /// The gateway refused it.
    Refused(TxRefusal),
    /// The gateway is not connected (no recent keep-alive), so it could not be asked.
    NotConnected,
    /// The gateway did not answer in time.
    NoAnswer,
}

/// Why a gateway refused a transmission (the Semtech `TX_ACK` error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxRefusal {
    /// Too late to program the transmission.
    TooLate,
    /// Too far in the future to program.
    TooEarly,
    /// Collides with another scheduled downlink.
    CollisionPacket,
    /// Collides with a beacon.
    CollisionBeacon,
    /// Frequency not supported by the radio.
    Frequency,
    /// Power not supported by the radio.
    Power,
    /// GPS not locked: timed transmissions impossible.
    GpsUnlocked,
    /// Any other reason the gateway named.
    Other,
}

/// Sends transmissions to gateways, whatever protocol they speak.
pub trait GatewayLink: Send + Sync + 'static {
    /// Ask `transmission.gateway` to send the frame and wait for its answer.
    fn transmit(&self, transmission: Transmission) -> impl Future<Output = TxOutcome> + Send;
}

//! The per-device downlink queue: what the AS submitted and the device has not received yet.
//!
//! A device holds at most five frames (configurable). Each time a window opens the head goes
//! out, with FPending set when more frames wait (TS001 1.0.4 §4.3.1.4: FPending tells the
//! device the network has more data pending, so that it sends another uplink soon). Frames
//! whose ValidityTime has passed are dropped and reported instead of sent.
//!
//! Confirmed downlinks. TS001 1.0.4 §4.3.1.3: "A downlink confirmed or unconfirmed frame SHALL
//! NOT be retransmitted using the same frame counter value. In the case of a confirmed
//! downlink, if the acknowledge is not received, the Application Server is notified and may
//! decide to transmit a new confirmed frame." So once sent, a confirmed frame leaves the queue
//! and waits for its acknowledgement: the device's next uplink carries ACK (acknowledged) or
//! not (not acknowledged), or a timeout passes without an uplink (class B / C devices).
//! Either way the AS is told and decides; the network server never retransmits it. While a
//! frame awaits its acknowledgement nothing else is sent: the next uplink settles it first.
//!
//! Which frame an ACK acknowledges: in LoRaWAN 1.1 the uplink MIC covers `ConfFCnt`, the
//! FCntDown of the confirmed frame being acknowledged — the uplink path takes it from
//! [`DeviceQueue::pending_ack`] when checking the MIC, so an ACK whose MIC verified is the
//! right one. In 1.0 the ACK bit always refers to the last confirmed downlink.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The FRMPayload as the AS gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// In clear: the network server encrypts it with the frame counter it sends it with.
    Clear(Vec<u8>),
    /// Encrypted by the AS, for the frame counter the AS chose ([`QueueItem::fcnt`]).
    Encrypted(Vec<u8>),
}

impl Payload {
    /// The bytes, whichever kind.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Payload::Clear(bytes) | Payload::Encrypted(bytes) => bytes,
        }
    }
}

/// Whether the device must acknowledge the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Confirmation {
    /// Unconfirmed data down.
    Unconfirmed,
    /// Confirmed data down.
    Confirmed,
}

/// A frame the AS submits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDownlink {
    /// FPort (1..=224).
    pub f_port: u8,
    /// The payload.
    pub payload: Payload,
    /// Confirmed or not.
    pub confirmation: Confirmation,
    /// Drop it if not sent by then.
    pub validity: Option<SystemTime>,
    /// The AS's correlation ID, echoed in the reports.
    pub correlation_id: Option<String>,
    /// The frame counter the AS encrypted for: AFCntDown in 1.1, FCntDown in 1.0. Required
    /// for an [`Payload::Encrypted`] payload.
    pub fcnt: Option<u32>,
}

/// A queued frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    /// Identifier, unique within the device's queue.
    pub id: u64,
    /// FPort.
    pub f_port: u8,
    /// The payload.
    pub payload: Payload,
    /// Confirmed or not.
    pub confirmation: Confirmation,
    /// Drop it if not sent by then.
    pub validity: Option<SystemTime>,
    /// The AS's correlation ID.
    pub correlation_id: Option<String>,
    /// The AS's frame counter, if it encrypted the payload.
    pub fcnt: Option<u32>,
    /// When it was queued.
    pub enqueued_at: SystemTime,
}

impl QueueItem {
    /// Whether its validity time has passed at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        self.validity.is_some_and(|until| until <= now)
    }
}

/// A confirmed frame sent and not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAck {
    /// The frame.
    pub item: QueueItem,
    /// The frame counter it was sent with (`ConfFCnt` of the acknowledging uplink in 1.1).
    pub fcnt: u32,
    /// When it was sent.
    pub sent_at: SystemTime,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue already holds its maximum.
    #[error("the downlink queue is full ({max} frames)")]
    Full {
        /// The maximum.
        max: usize,
    },
    /// FPort 0 is for MAC commands and 225..255 are RFU.
    #[error("FPort {0} is not allowed for application downlinks")]
    InvalidFPort(u8),
    /// The validity time has already passed.
    #[error("the validity time has already passed")]
    AlreadyExpired,
    /// An AS-encrypted payload without the frame counter it was encrypted for.
    #[error("an encrypted payload needs the frame counter it was encrypted with")]
    MissingFCnt,
}

/// The uplink's ACK bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckBit {
    /// ACK set.
    Set,
    /// ACK clear.
    Clear,
}

/// How a confirmed frame ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckResult {
    /// The device acknowledged it.
    Acknowledged(PendingAck),
    /// An uplink came without ACK, or none came in time: tell the AS.
    NotAcknowledged(PendingAck),
}

/// What to send in the window now open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NextDownlink {
    /// Frames dropped because their validity time passed (report them to the AS).
    pub expired: Vec<QueueItem>,
    /// The frame to send, if any (it stays queued until [`DeviceQueue::sent`]).
    pub item: Option<QueueItem>,
    /// Whether FPending must be set: more frames wait behind it.
    pub f_pending: bool,
}

/// One device's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceQueue {
    items: VecDeque<QueueItem>,
    max_len: usize,
    next_id: u64,
    /// Boxed: rarely present (a confirmed downlink sent and not yet acknowledged), and
    /// ≈ 130 bytes inline in every one of a million devices' queues otherwise.
    pending_ack: Option<Box<PendingAck>>,
}

impl Default for DeviceQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl DeviceQueue {
    /// The default maximum number of queued frames.
    pub const DEFAULT_MAX_LEN: usize = 5;

    /// An empty queue of at most [`Self::DEFAULT_MAX_LEN`] frames.
    pub fn new() -> Self {
        Self::with_max_len(Self::DEFAULT_MAX_LEN)
    }

    /// An empty queue of at most `max_len` frames.
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            items: VecDeque::new(),
            max_len,
            next_id: 1,
            pending_ack: None,
        }
    }

    /// Number of queued frames (not counting one awaiting its acknowledgement).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no frame is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The queued frames, head first.
    pub fn items(&self) -> impl Iterator<Item = &QueueItem> {
        self.items.iter()
    }

    /// The confirmed frame awaiting its acknowledgement.
    pub fn pending_ack(&self) -> Option<&PendingAck> {
        self.pending_ack.as_deref()
    }

    /// The highest frame counter the AS chose among the queued frames (the `FCntDn` the
    /// uplink report announces is this + 1 when there is one).
    pub fn max_as_fcnt(&self) -> Option<u32> {
        self.items.iter().filter_map(|item| item.fcnt).max()
    }

    /// Queue a frame at the tail; returns its id.
    pub fn enqueue(&mut self, new: NewDownlink, now: SystemTime) -> Result<u64, QueueError> {
        if !(1..=224).contains(&new.f_port) {
            return Err(QueueError::InvalidFPort(new.f_port));
        }
        if matches!(new.payload, Payload::Encrypted(_)) && new.fcnt.is_none() {
            return Err(QueueError::MissingFCnt);
        }
        if new.validity.is_some_and(|until| until <= now) {
            return Err(QueueError::AlreadyExpired);
        }
        if self.items.len() >= self.max_len {
            return Err(QueueError::Full { max: self.max_len });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.items.push_back(QueueItem {
            id,
            f_port: new.f_port,
            payload: new.payload,
            confirmation: new.confirmation,
            validity: new.validity,
            correlation_id: new.correlation_id,
            fcnt: new.fcnt,
            enqueued_at: now,
        });
        Ok(id)
    }

    /// Drop expired frames and return the head to send now, with FPending. Nothing is
    /// offered while a confirmed frame awaits its acknowledgement.
    pub fn next_for_transmission(&mut self, now: SystemTime) -> NextDownlink {
        let expired = self.drop_expired(now);
        if self.pending_ack.is_some() {
            return NextDownlink {
                expired,
                item: None,
                f_pending: !self.items.is_empty(),
            };
        }
        NextDownlink {
            expired,
            item: self.items.front().cloned(),
            f_pending: self.items.len() > 1,
        }
    }

    /// The frame `id` went over the air with frame counter `fcnt` at `now`: it leaves the
    /// queue, and a confirmed one awaits its acknowledgement. Returns the frame.
    pub fn sent(&mut self, id: u64, fcnt: u32, now: SystemTime) -> Option<QueueItem> {
        let item = self.remove(id)?;
        if item.confirmation == Confirmation::Confirmed {
            self.pending_ack = Some(Box::new(PendingAck {
                item: item.clone(),
                fcnt,
                sent_at: now,
            }));
        }
        Some(item)
    }

    /// Remove frame `id` (for instance: not sent in any window; the AS re-submits it).
    pub fn remove(&mut self, id: u64) -> Option<QueueItem> {
        let index = self.items.iter().position(|item| item.id == id)?;
        self.items.remove(index)
    }

    /// Remove the AS-encrypted frames whose frame counter is below `next_fcnt`, the next
    /// counter the session can send with: the device would discard them as replays. Returns
    /// them, to report to the AS (which has to encrypt them again).
    pub fn drop_stale_fcnt(&mut self, next_fcnt: u32) -> Vec<QueueItem> {
        let (stale, kept): (Vec<_>, Vec<_>) = self.items.drain(..).partition(|item| {
            matches!(item.payload, Payload::Encrypted(_))
                && item.fcnt.is_some_and(|fcnt| fcnt < next_fcnt)
        });
        self.items = kept.into();
        stale
    }

    /// An uplink received at `now` settles the frame awaiting acknowledgement, if any.
    pub fn on_uplink(&mut self, ack: AckBit, now: SystemTime) -> Option<AckResult> {
        let pending = self.pending_ack.as_ref()?;
        if now <= pending.sent_at {
            // Sent before our downlink went out: it cannot acknowledge it.
            return None;
        }
        let pending = *self.pending_ack.take()?;
        Some(match ack {
            AckBit::Set => AckResult::Acknowledged(pending),
            AckBit::Clear => AckResult::NotAcknowledged(pending),
        })
    }

    /// The frame awaiting acknowledgement, given up on when no uplink came within `timeout`
    /// of sending it (class B / C devices may stay silent).
    pub fn ack_timeout(&mut self, now: SystemTime, timeout: Duration) -> Option<AckResult> {
        let pending = self.pending_ack.as_ref()?;
        let overdue = now
            .duration_since(pending.sent_at)
            .is_ok_and(|waited| waited >= timeout);
        if !overdue {
            return None;
        }
        self.pending_ack
            .take()
            .map(|pending| AckResult::NotAcknowledged(*pending))
    }

    /// Empty the queue; returns the removed frames. A frame already sent and awaiting its
    /// acknowledgement stays tracked: it is on air already.
    pub fn flush(&mut self) -> Vec<QueueItem> {
        self.items.drain(..).collect()
    }

    fn drop_expired(&mut self, now: SystemTime) -> Vec<QueueItem> {
        let (expired, kept): (Vec<_>, Vec<_>) =
            self.items.drain(..).partition(|item| item.expired(now));
        self.items = kept.into();
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn frame(confirmation: Confirmation, validity: Option<SystemTime>) -> NewDownlink {
        NewDownlink {
            f_port: 1,
            payload: Payload::Clear(vec![0xde, 0xad]),
            confirmation,
            validity,
            correlation_id: Some("4434704901C7450B".to_owned()),
            fcnt: None,
        }
    }

    #[test]
    fn at_most_five_frames_and_only_valid_ports() {
        let mut queue = DeviceQueue::new();
        for _ in 0..5 {
            queue
                .enqueue(frame(Confirmation::Unconfirmed, None), t(0))
                .expect("room");
        }
        assert_eq!(
            queue.enqueue(frame(Confirmation::Unconfirmed, None), t(0)),
            Err(QueueError::Full { max: 5 })
        );
        let mut small = DeviceQueue::with_max_len(1);
        let port0 = NewDownlink {
            f_port: 0,
            ..frame(Confirmation::Unconfirmed, None)
        };
        assert_eq!(small.enqueue(port0, t(0)), Err(QueueError::InvalidFPort(0)));
        let port225 = NewDownlink {
            f_port: 225,
            ..frame(Confirmation::Unconfirmed, None)
        };
        assert_eq!(
            small.enqueue(port225, t(0)),
            Err(QueueError::InvalidFPort(225))
        );
        let encrypted = NewDownlink {
            payload: Payload::Encrypted(vec![1]),
            ..frame(Confirmation::Unconfirmed, None)
        };
        assert_eq!(
            small.enqueue(encrypted.clone(), t(0)),
            Err(QueueError::MissingFCnt)
        );
        let with_fcnt = NewDownlink {
            fcnt: Some(41),
            ..encrypted
        };
        assert!(small.enqueue(with_fcnt, t(0)).is_ok());
        assert_eq!(small.max_as_fcnt(), Some(41));
        assert_eq!(
            small.enqueue(frame(Confirmation::Unconfirmed, Some(t(5))), t(5)),
            Err(QueueError::AlreadyExpired)
        );
    }

    #[test]
    fn fpending_is_set_while_more_frames_wait() {
        let mut queue = DeviceQueue::new();
        let first = queue
            .enqueue(frame(Confirmation::Unconfirmed, None), t(0))
            .expect("room");
        let second = queue
            .enqueue(frame(Confirmation::Unconfirmed, None), t(0))
            .expect("room");
        let next = queue.next_for_transmission(t(1));
        assert_eq!(next.item.as_ref().map(|i| i.id), Some(first));
        assert!(next.f_pending);
        assert_eq!(queue.sent(first, 10, t(1)).map(|i| i.id), Some(first));
        assert!(queue.pending_ack().is_none(), "unconfirmed");
        let next = queue.next_for_transmission(t(2));
        assert_eq!(next.item.as_ref().map(|i| i.id), Some(second));
        assert!(!next.f_pending);
        assert_eq!(queue.sent(second, 11, t(2)).map(|i| i.id), Some(second));
        assert_eq!(queue.next_for_transmission(t(3)), NextDownlink::default());
    }

    #[test]
    fn expired_frames_are_dropped_and_returned() {
        let mut queue = DeviceQueue::new();
        let stale = queue
            .enqueue(frame(Confirmation::Unconfirmed, Some(t(10))), t(0))
            .expect("room");
        let fresh = queue
            .enqueue(frame(Confirmation::Unconfirmed, Some(t(100))), t(0))
            .expect("room");
        let next = queue.next_for_transmission(t(10));
        assert_eq!(
            next.expired.iter().map(|i| i.id).collect::<Vec<_>>(),
            vec![stale]
        );
        assert_eq!(next.item.map(|i| i.id), Some(fresh));
        assert!(!next.f_pending);
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn confirmed_frames_wait_for_the_next_uplink() {
        let mut queue = DeviceQueue::new();
        let confirmed = queue
            .enqueue(frame(Confirmation::Confirmed, None), t(0))
            .expect("room");
        let after = queue
            .enqueue(frame(Confirmation::Unconfirmed, None), t(0))
            .expect("room");
        queue.sent(confirmed, 7, t(1));
        assert_eq!(queue.pending_ack().map(|p| p.fcnt), Some(7));
        // Nothing else goes out until the acknowledgement is settled, but FPending says so.
        let next = queue.next_for_transmission(t(1));
        assert_eq!((next.item, next.f_pending), (None, true));
        // An uplink from before the downlink settles nothing.
        assert_eq!(queue.on_uplink(AckBit::Set, t(1)), None);
        let Some(AckResult::Acknowledged(acked)) = queue.on_uplink(AckBit::Set, t(20)) else {
            panic!("acknowledged");
        };
        assert_eq!((acked.item.id, acked.fcnt), (confirmed, 7));
        assert_eq!(
            queue.next_for_transmission(t(20)).item.map(|i| i.id),
            Some(after)
        );

        // Not acknowledged: reported, never retransmitted.
        let mut queue = DeviceQueue::new();
        let id = queue
            .enqueue(frame(Confirmation::Confirmed, None), t(0))
            .expect("room");
        queue.sent(id, 8, t(1));
        let Some(AckResult::NotAcknowledged(nacked)) = queue.on_uplink(AckBit::Clear, t(30)) else {
            panic!("not acknowledged");
        };
        assert_eq!(nacked.item.id, id);
        assert!(queue.is_empty() && queue.pending_ack().is_none());
    }

    #[test]
    fn as_encrypted_frames_behind_the_session_counter_are_dropped() {
        let mut queue = DeviceQueue::new();
        let encrypted = |fcnt| NewDownlink {
            payload: Payload::Encrypted(vec![0x11]),
            fcnt: Some(fcnt),
            ..frame(Confirmation::Unconfirmed, None)
        };
        let old = queue.enqueue(encrypted(9), t(0)).expect("room");
        let current = queue.enqueue(encrypted(10), t(0)).expect("room");
        let clear = queue
            .enqueue(frame(Confirmation::Unconfirmed, None), t(0))
            .expect("room");
        let stale = queue.drop_stale_fcnt(10);
        assert_eq!(stale.iter().map(|i| i.id).collect::<Vec<_>>(), vec![old]);
        assert_eq!(
            queue.items().map(|i| i.id).collect::<Vec<_>>(),
            vec![current, clear]
        );
        assert_eq!(queue.max_as_fcnt(), Some(10));
    }

    #[test]
    fn a_silent_device_times_the_acknowledgement_out() {
        let mut queue = DeviceQueue::new();
        let id = queue
            .enqueue(frame(Confirmation::Confirmed, None), t(0))
            .expect("room");
        queue.sent(id, 3, t(0));
        let timeout = Duration::from_secs(60);
        assert_eq!(queue.ack_timeout(t(59), timeout), None);
        assert!(matches!(
            queue.ack_timeout(t(60), timeout),
            Some(AckResult::NotAcknowledged(_))
        ));
        assert_eq!(queue.on_uplink(AckBit::Set, t(61)), None);
    }

    #[test]
    fn flush_returns_everything_queued_and_the_queue_round_trips() {
        let mut queue = DeviceQueue::new();
        for _ in 0..3 {
            queue
                .enqueue(frame(Confirmation::Unconfirmed, Some(t(50))), t(0))
                .expect("room");
        }
        let json = serde_json::to_string(&queue).expect("serialises");
        let back: DeviceQueue = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, queue);
        let flushed = queue.flush();
        assert_eq!(
            flushed.iter().map(|i| i.id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(queue.is_empty());
        // Ids keep increasing after a flush.
        assert_eq!(
            queue.enqueue(frame(Confirmation::Unconfirmed, None), t(1)),
            Ok(4)
        );
    }
}

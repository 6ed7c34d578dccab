//! Requests waiting for an asynchronous answer, keyed by (peer, TransactionID).
//!
//! The requester registers before sending (so an answer that overtakes the HTTP response of
//! its own request is not lost), then waits a bounded time. The server side of the transport
//! hands every inbound answer to [`PendingAnswers::resolve`] first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::message::Message;

/// Who an answer comes from (its SenderID, upper-cased so `0x`-free hex of any case matches)
/// and which transaction it answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    /// The answering party's ID: the request's ReceiverID.
    pub peer: String,
    /// The request's TransactionID.
    pub transaction_id: u32,
}

impl AnswerKey {
    /// Normalises the peer ID (case, `0x`) so dialects of one ID meet.
    pub fn new(peer: &str, transaction_id: u32) -> Self {
        let peer = peer.trim();
        let peer = peer
            .strip_prefix("0x")
            .or_else(|| peer.strip_prefix("0X"))
            .unwrap_or(peer);
        Self {
            peer: peer.to_ascii_uppercase(),
            transaction_id,
        }
    }
}

/// Why no asynchronous answer was received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// Nothing came in time.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// A second registration for the same key replaced this one.
    #[error("a newer request with the same TransactionID replaced this one")]
    Superseded,
}

type Waiters = HashMap<AnswerKey, oneshot::Sender<Message>>;

/// The table of requests waiting for an asynchronous answer. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct PendingAnswers {
    waiters: Arc<Mutex<Waiters>>,
}

/// A registered wait; dropping it unregisters.
#[derive(Debug)]
pub struct PendingAnswer {
    key: AnswerKey,
    receiver: oneshot::Receiver<Message>,
    table: PendingAnswers,
}

impl PendingAnswers {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers interest in the answer identified by `key`.
    pub fn register(&self, key: AnswerKey) -> PendingAnswer {
        let (sender, receiver) = oneshot::channel();
        self.lock().insert(key.clone(), sender);
        PendingAnswer {
            key,
            receiver,
            table: self.clone(),
        }
    }

    /// Hands `answer` to whoever waits for it. Returns it back when nobody does, so the
    /// caller can treat it as unsolicited (e.g. the hub forwards it).
    pub fn resolve(&self, key: &AnswerKey, answer: Message) -> Result<(), Box<Message>> {
        let waiter = self.lock().remove(key);
        match waiter {
            Some(sender) => sender.send(answer).map_err(Box::new),
            None => Err(Box::new(answer)),
        }
    }

    /// How many requests are waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no request is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        // A panic while holding this lock cannot leave the map inconsistent (single
        // insert/remove calls), so a poisoned lock is still usable.
        self.waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl PendingAnswer {
    /// The key this wait was registered under.
    pub fn key(&self) -> &AnswerKey {
        &self.key
    }

    /// Waits at most `limit` for the answer.
    pub async fn wait(mut self, limit: Duration) -> Result<Message, WaitError> {
        match tokio::time::timeout(limit, &mut self.receiver).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(WaitError::Superseded),
            Err(_) => Err(WaitError::TimedOut(limit)),
        }
    }
}

impl Drop for PendingAnswer {
    fn drop(&mut self) {
        // Close our receiver first so our own sender reads as closed below.
        self.receiver.close();
        let mut waiters = self.table.lock();
        // Remove our own entry only: a newer registration under the same key stays.
        if waiters
            .get(&self.key)
            .is_some_and(oneshot::Sender::is_closed)
        {
            waiters.remove(&self.key);
        }
    }
}

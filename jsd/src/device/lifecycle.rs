//! The device lifecycle: states, pure transitions, and the history they leave.
//!
//! ```text
//!            import                claim                 join (JoinReq accepted)
//!   (none) ─────────▶ Generic ──────────────▶ Claimed ─────────────────────▶ Activated ─┐
//!                        ▲                    │   ▲                           │   ▲     │ join
//!                        │            unclaim │   └── claim by the same home  │   └─────┘
//!                        │                    ▼       (a retry: no change)    │
//!                        └─── claim ◀──── Unclaimed ◀─────────────────────────┘ unclaim
//! ```
//!
//! - **Claim** needs the device's owner token ([`TokenCheck::Valid`]) and binds the device to a
//!   [`Home`]: the home NetID and, when the home network is identified by one (Backend
//!   Interfaces 1.1, shared NetIDs), its NSID. The NSID is optional for every device: it is a
//!   property of the home *network* (TS002-1.1 `HNSID` in HomeNSAns), not of the device's
//!   LoRaWAN version, so the API requires it when the claiming network's registration says it
//!   uses one, and the lifecycle stores what it is given.
//! - **The token is judged before the state**, so "already claimed" is only ever told to a
//!   caller holding the token: without it, every device that exists answers "invalid token"
//!   and claim status does not leak. "Not pre-commissioned" (no record) cannot be hidden the
//!   same way; the per-caller rate limit bounds DevEUI enumeration.
//! - **A claim by the network that already holds the device succeeds without change**, so an
//!   NS retrying after a lost answer does not see "already claimed" for its own device.
//! - **Unclaim** (the home NS deleted the device, or the JS operator) releases the device:
//!   [`DeviceState::Unclaimed`] is claimable again with the same owner token, as in the
//!   ThingPark flow: the token is printed on the device (TR005 QR code), so whoever holds the
//!   device after a resale can claim it once the previous owner has released it. Unclaim
//!   does not reissue the token; the manufacturer or operator re-imports for a new one.
//! - **Activate** (a join accepted) is allowed from Claimed and Activated only: the JS never
//!   answers a join for a device nobody claimed, since it would not know its home network.
//!
//! Every transition appends an [`Event`] (time injected, unix seconds) to a bounded
//! [`History`]; the import event is always kept, older later events are dropped and counted.

use std::fmt;
use std::str::FromStr;

use lorawan::ids::{Eui64, NetId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::token::TokenCheck;

/// The network a claimed device belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Home {
    /// Home NetID.
    pub net_id: NetId,
    /// Home NSID, when the home network uses one.
    pub nsid: Option<Eui64>,
}

impl fmt::Display for Home {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetID {}", self.net_id)?;
        if let Some(nsid) = self.nsid {
            write!(f, ", NSID {nsid}")?;
        }
        Ok(())
    }
}

/// Where a device is in its life. JSON: `{"state": "claimed", "home_net_id": "000013",
/// "home_nsid": "70b3d57ed0000001"}` (`home_nsid` omitted when absent; `at` on activated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase", deny_unknown_fields)]
pub enum DeviceState {
    /// Imported by its manufacturer, not yet bound to any network.
    Generic,
    /// Bound to a home network, never joined since.
    Claimed {
        /// Home NetID.
        #[serde(serialize_with = "ser_text", deserialize_with = "de_text")]
        home_net_id: NetId,
        /// Home NSID, if any.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "ser_opt_text",
            deserialize_with = "de_opt_text"
        )]
        home_nsid: Option<Eui64>,
    },
    /// Bound to a home network and joined at least once.
    Activated {
        /// Home NetID.
        #[serde(serialize_with = "ser_text", deserialize_with = "de_text")]
        home_net_id: NetId,
        /// Home NSID, if any.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "ser_opt_text",
            deserialize_with = "de_opt_text"
        )]
        home_nsid: Option<Eui64>,
        /// The first accepted join since the claim, unix seconds.
        at: u64,
    },
    /// Released by its home network; claimable again.
    Unclaimed,
}

impl DeviceState {
    /// A claimed state for `home`.
    pub const fn claimed(home: Home) -> Self {
        Self::Claimed {
            home_net_id: home.net_id,
            home_nsid: home.nsid,
        }
    }

    /// The home network, in the Claimed and Activated states.
    pub const fn home(&self) -> Option<Home> {
        match *self {
            Self::Claimed {
                home_net_id,
                home_nsid,
            }
            | Self::Activated {
                home_net_id,
                home_nsid,
                ..
            } => Some(Home {
                net_id: home_net_id,
                nsid: home_nsid,
            }),
            Self::Generic | Self::Unclaimed => None,
        }
    }

    /// The state's name, as in JSON, logs and metrics labels.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Claimed { .. } => "claimed",
            Self::Activated { .. } => "activated",
            Self::Unclaimed => "unclaimed",
        }
    }
}

/// Why a claim was refused; the claiming network is to blame for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// No device with this DevEUI was imported (the caller maps a missing record to this).
    #[error("device not pre-commissioned on this join server")]
    NotPreCommissioned,
    /// The token is right but another home network holds the device (it must unclaim first).
    #[error("device already claimed by another network")]
    AlreadyClaimed,
    /// The owner token does not match.
    #[error("invalid owner token")]
    InvalidToken,
}

/// Why an unclaim was refused; the caller is to blame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnclaimError {
    /// The device is not claimed (generic, or already released).
    #[error("device is not claimed")]
    NotClaimed,
    /// The caller is not the device's home network.
    #[error("only the device's home network may unclaim it")]
    NotHomeNetwork,
}

/// Why a join may not activate the device: nobody claimed it. The device (or whoever is
/// trying to join with its identity) is to blame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("device is {0}, not claimed: joins are refused")]
pub struct ActivateError(pub &'static str);

/// Who asks for an unclaim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclaimer {
    /// A network, as authenticated by the API: it must be the device's home. When the home
    /// has an NSID, the caller's must match; when it has none, the NetID decides.
    Network(Home),
    /// The join server's operator (support case, stolen device): always allowed.
    Operator,
}

/// What a successful claim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The device is now bound to the caller's home network.
    Claimed,
    /// It already was (a retry): nothing changed.
    AlreadyYours,
}

/// Claim: `token` is the verdict on the presented owner token (see
/// [`super::token::OwnerTokenHash::verify`]), `home` the claiming network.
pub fn claim(
    state: &DeviceState,
    token: TokenCheck,
    home: Home,
) -> Result<DeviceState, ClaimError> {
    if token != TokenCheck::Valid {
        return Err(ClaimError::InvalidToken);
    }
    match state.home() {
        None => Ok(DeviceState::claimed(home)),
        Some(current) if current == home => Ok(*state),
        Some(_) => Err(ClaimError::AlreadyClaimed),
    }
}

/// Unclaim: releases a Claimed or Activated device.
pub fn unclaim(state: &DeviceState, by: Unclaimer) -> Result<DeviceState, UnclaimError> {
    let home = state.home().ok_or(UnclaimError::NotClaimed)?;
    match by {
        Unclaimer::Operator => Ok(DeviceState::Unclaimed),
        Unclaimer::Network(caller) => {
            let same_nsid = home.nsid.is_none() || home.nsid == caller.nsid;
            if caller.net_id == home.net_id && same_nsid {
                Ok(DeviceState::Unclaimed)
            } else {
                Err(UnclaimError::NotHomeNetwork)
            }
        }
    }
}

/// Activate: a join was accepted at `at` (unix seconds). An activated device stays as it is:
/// `at` is the first join since the claim, and later joins are not lifecycle events (they
/// would flood the history; storage keeps the time of the last join beside the state).
pub fn activate(state: &DeviceState, at: u64) -> Result<DeviceState, ActivateError> {
    let home = state.home().ok_or(ActivateError(state.name()))?;
    if let DeviceState::Activated { .. } = state {
        return Ok(*state);
    }
    Ok(DeviceState::Activated {
        home_net_id: home.net_id,
        home_nsid: home.nsid,
        at,
    })
}

/// What happened to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Pre-commissioned by an import.
    Imported,
    /// Claimed by a home network.
    Claimed,
    /// A join was accepted.
    Activated,
    /// Released by its home network or the operator.
    Unclaimed,
}

/// One line of a device's history. `detail` is for people and never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// When, unix seconds (given by the caller's clock).
    pub at: u64,
    /// What.
    pub kind: EventKind,
    /// Specifics: the home network, who unclaimed, the import batch.
    pub detail: String,
}

/// A device's events, oldest first, bounded: the first (import) event is always kept and,
/// past [`History::MAX_EVENTS`], the oldest of the others are dropped and counted in
/// `omitted` (a device that joins every day would otherwise grow without end).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    events: Vec<Event>,
    omitted: u64,
}

impl History {
    /// Events kept at most.
    pub const MAX_EVENTS: usize = 64;

    /// Appends `event`, dropping the oldest non-first event when full.
    pub fn push(&mut self, event: Event) {
        if self.events.len() >= Self::MAX_EVENTS && self.events.len() > 1 {
            self.events.remove(1);
            self.omitted = self.omitted.saturating_add(1);
        }
        self.events.push(event);
    }

    /// The kept events, oldest first.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// How many events were dropped to keep the history bounded.
    pub const fn omitted(&self) -> u64 {
        self.omitted
    }
}

/// A device's state and history together; each method applies one pure transition and, when
/// the state changes, records the event. On error nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Where the device is.
    pub state: DeviceState,
    /// How it got there.
    pub history: History,
}

impl Lifecycle {
    /// A freshly imported (generic) device; `detail` names the import (batch, file).
    pub fn imported(at: u64, detail: impl Into<String>) -> Self {
        let mut history = History::default();
        history.push(Event {
            at,
            kind: EventKind::Imported,
            detail: detail.into(),
        });
        Self {
            state: DeviceState::Generic,
            history,
        }
    }

    /// [`claim`], recorded.
    pub fn claim(
        &mut self,
        token: TokenCheck,
        home: Home,
        at: u64,
    ) -> Result<ClaimOutcome, ClaimError> {
        let next = claim(&self.state, token, home)?;
        if next == self.state {
            return Ok(ClaimOutcome::AlreadyYours);
        }
        self.state = next;
        self.history.push(Event {
            at,
            kind: EventKind::Claimed,
            detail: format!("home {home}"),
        });
        Ok(ClaimOutcome::Claimed)
    }

    /// [`unclaim`], recorded.
    pub fn unclaim(&mut self, by: Unclaimer, at: u64) -> Result<(), UnclaimError> {
        let next = unclaim(&self.state, by)?;
        let detail = match (by, self.state.home()) {
            (Unclaimer::Operator, Some(home)) => format!("by the operator, was home {home}"),
            (Unclaimer::Operator, None) => "by the operator".to_owned(),
            (Unclaimer::Network(home), _) => format!("by its home {home}"),
        };
        self.state = next;
        self.history.push(Event {
            at,
            kind: EventKind::Unclaimed,
            detail,
        });
        Ok(())
    }

    /// [`activate`], recorded when the state changes; returns the home network to send the
    /// join answer for.
    pub fn activate(&mut self, at: u64) -> Result<Home, ActivateError> {
        let next = activate(&self.state, at)?;
        let home = next.home().ok_or(ActivateError(self.state.name()))?;
        if next == self.state {
            return Ok(home);
        }
        self.state = next;
        self.history.push(Event {
            at,
            kind: EventKind::Activated,
            detail: format!("join accepted for home {home}"),
        });
        Ok(home)
    }
}

fn ser_text<T: fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

fn de_text<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: fmt::Display,
    D: Deserializer<'de>,
{
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

// serde's `serialize_with` hands the field by reference, hence `&Option`.
#[allow(clippy::ref_option)]
fn ser_opt_text<T: fmt::Display, S: Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

fn de_opt_text<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: FromStr,
    T::Err: fmt::Display,
    D: Deserializer<'de>,
{
    Option::<String>::deserialize(d)?
        .map(|text| text.parse().map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn home(net_id: u32, nsid: Option<u64>) -> Home {
        Home {
            net_id: NetId::from_u32(net_id).expect("24 bits"),
            nsid: nsid.map(Eui64::from_u64),
        }
    }

    #[test]
    fn the_happy_path_generic_claimed_activated_unclaimed_claimed() {
        let a = home(0x13, Some(0x70b3_d57e_d000_0001));
        let b = home(0x600_01c, None);
        let mut life = Lifecycle::imported(100, "batch 7");
        assert_eq!(life.state, DeviceState::Generic);

        assert_eq!(
            life.claim(TokenCheck::Valid, a, 200),
            Ok(ClaimOutcome::Claimed)
        );
        assert_eq!(life.state, DeviceState::claimed(a));

        assert_eq!(life.activate(300), Ok(a));
        assert_eq!(life.activate(400), Ok(a));
        assert_eq!(
            life.state,
            DeviceState::Activated {
                home_net_id: a.net_id,
                home_nsid: a.nsid,
                at: 300
            }
        );

        assert_eq!(life.unclaim(Unclaimer::Network(a), 500), Ok(()));
        assert_eq!(life.state, DeviceState::Unclaimed);

        assert_eq!(
            life.claim(TokenCheck::Valid, b, 600),
            Ok(ClaimOutcome::Claimed)
        );
        assert_eq!(life.state.home(), Some(b));

        let kinds: Vec<_> = life.history.events().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Imported,
                EventKind::Claimed,
                EventKind::Activated,
                EventKind::Unclaimed,
                EventKind::Claimed
            ]
        );
        let times: Vec<_> = life.history.events().iter().map(|e| e.at).collect();
        assert_eq!(times, [100, 200, 300, 500, 600]);
        assert_eq!(
            life.history.events()[1].detail,
            "home NetID 000013, NSID 70b3d57ed0000001"
        );
    }

    #[test]
    fn an_invalid_token_is_judged_before_the_state() {
        let a = home(0x13, None);
        for state in [
            DeviceState::Generic,
            DeviceState::claimed(a),
            DeviceState::claimed(home(0x14, None)),
            DeviceState::Unclaimed,
        ] {
            assert_eq!(
                claim(&state, TokenCheck::Invalid, a),
                Err(ClaimError::InvalidToken),
                "{state:?}"
            );
        }
    }

    #[test]
    fn another_network_gets_already_claimed_and_the_same_one_a_no_op() {
        let a = home(0x13, None);
        let mut life = Lifecycle::imported(1, "");
        life.claim(TokenCheck::Valid, a, 2).expect("claim");
        life.activate(3).expect("join");
        let before = life.clone();

        assert_eq!(
            life.claim(TokenCheck::Valid, home(0x14, None), 4),
            Err(ClaimError::AlreadyClaimed)
        );
        // Same NetID, different NSID: a different network.
        assert_eq!(
            life.claim(TokenCheck::Valid, home(0x13, Some(1)), 4),
            Err(ClaimError::AlreadyClaimed)
        );
        assert_eq!(
            life.claim(TokenCheck::Valid, a, 4),
            Ok(ClaimOutcome::AlreadyYours)
        );
        assert_eq!(life, before, "refusals and retries change nothing");
    }

    #[test]
    fn only_the_home_network_or_the_operator_unclaims() {
        let with_nsid = home(0x13, Some(9));
        let state = DeviceState::claimed(with_nsid);
        assert_eq!(
            unclaim(&state, Unclaimer::Network(home(0x14, Some(9)))),
            Err(UnclaimError::NotHomeNetwork)
        );
        assert_eq!(
            unclaim(&state, Unclaimer::Network(home(0x13, None))),
            Err(UnclaimError::NotHomeNetwork)
        );
        assert_eq!(
            unclaim(&state, Unclaimer::Network(with_nsid)),
            Ok(DeviceState::Unclaimed)
        );
        assert_eq!(
            unclaim(&state, Unclaimer::Operator),
            Ok(DeviceState::Unclaimed)
        );
        // A home without NSID: the NetID decides.
        let plain = DeviceState::claimed(home(0x13, None));
        assert_eq!(
            unclaim(&plain, Unclaimer::Network(home(0x13, Some(5)))),
            Ok(DeviceState::Unclaimed)
        );
        for state in [DeviceState::Generic, DeviceState::Unclaimed] {
            assert_eq!(
                unclaim(&state, Unclaimer::Operator),
                Err(UnclaimError::NotClaimed)
            );
        }
    }

    #[test]
    fn joins_are_refused_until_claimed() {
        assert_eq!(
            activate(&DeviceState::Generic, 5),
            Err(ActivateError("generic"))
        );
        assert_eq!(
            activate(&DeviceState::Unclaimed, 5),
            Err(ActivateError("unclaimed"))
        );
        let mut life = Lifecycle::imported(1, "");
        assert!(life.activate(2).is_err());
        assert_eq!(life.history.events().len(), 1);
    }

    #[test]
    fn history_is_bounded_and_keeps_the_import() {
        let mut life = Lifecycle::imported(0, "batch");
        life.claim(TokenCheck::Valid, home(1, None), 1)
            .expect("claim");
        for t in 2..1000 {
            life.activate(t).expect("join");
            life.unclaim(Unclaimer::Operator, t).expect("unclaim");
            life.claim(TokenCheck::Valid, home(1, None), t)
                .expect("claim");
        }
        let events = life.history.events();
        assert_eq!(events.len(), History::MAX_EVENTS);
        assert_eq!(events[0].kind, EventKind::Imported);
        assert_eq!(events.last().map(|e| e.at), Some(999));
        // import + first claim + three events per round
        assert_eq!(
            life.history.omitted(),
            2 + 3 * 998 - History::MAX_EVENTS as u64
        );
    }

    #[test]
    fn json_shape() {
        let state = DeviceState::Activated {
            home_net_id: NetId::from_u32(0x13).expect("24 bits"),
            home_nsid: None,
            at: 7,
        };
        let json = serde_json::to_value(state).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({"state": "activated", "home_net_id": "000013", "at": 7})
        );
        let claimed = DeviceState::claimed(home(0x13, Some(0x70b3_d57e_d000_0001)));
        let json = serde_json::to_value(claimed).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({"state": "claimed", "home_net_id": "000013",
                               "home_nsid": "70b3d57ed0000001"})
        );
        let mut life = Lifecycle::imported(1, "batch");
        life.claim(TokenCheck::Valid, home(0x13, Some(1)), 2)
            .expect("claim");
        let text = serde_json::to_string(&life).expect("serialize");
        let back: Lifecycle = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, life);
        assert!(serde_json::from_str::<DeviceState>(
            r#"{"state": "claimed", "home_net_id": "xyz"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<DeviceState>(r#"{"state": "stolen"}"#).is_err());
    }

    fn any_home() -> impl Strategy<Value = Home> {
        (0u32..=0x00ff_ffff, proptest::option::of(any::<u64>())).prop_map(|(n, s)| home(n, s))
    }

    #[derive(Debug, Clone)]
    enum Op {
        Claim(bool, Home),
        Unclaim(Option<Home>),
        Activate,
    }

    fn any_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<bool>(), any_home()).prop_map(|(t, h)| Op::Claim(t, h)),
            proptest::option::of(any_home()).prop_map(Op::Unclaim),
            Just(Op::Activate),
        ]
    }

    proptest! {
        #[test]
        fn every_change_of_state_is_recorded_and_errors_change_nothing(
            ops in proptest::collection::vec(any_op(), 0..40),
        ) {
            let mut life = Lifecycle::imported(0, "");
            for (t, op) in ops.into_iter().enumerate() {
                let before = life.clone();
                let ok = match op {
                    Op::Claim(valid, h) => {
                        let token = if valid { TokenCheck::Valid } else { TokenCheck::Invalid };
                        life.claim(token, h, t as u64).is_ok()
                    }
                    Op::Unclaim(by) => life
                        .unclaim(by.map_or(Unclaimer::Operator, Unclaimer::Network), t as u64)
                        .is_ok(),
                    Op::Activate => life.activate(t as u64).is_ok(),
                };
                if !ok {
                    prop_assert_eq!(&life, &before);
                }
                let changed = life.state != before.state;
                let recorded = life.history.events().len() != before.history.events().len()
                    || life.history.omitted() != before.history.omitted();
                if changed {
                    prop_assert!(recorded);
                }
                // Activated is only ever reached from a claimed home.
                if let DeviceState::Activated { .. } = life.state {
                    prop_assert!(before.state.home().is_some());
                }
            }
        }
    }
}

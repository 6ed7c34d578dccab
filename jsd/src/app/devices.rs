//! The device operations of the admin API and the command line: import, claim, unclaim, show,
//! list, and where the AppSKey goes.
//!
//! Permissions: an operator (or the console) may do everything. A network peer may claim a
//! device for one of its own NetIDs, unclaim, see and configure the devices whose home it is;
//! every other device looks absent to it (NotFound), so DevEUIs of other networks' devices do
//! not leak through the API. Claim attempts of networks pass the rate limits per DevEUI and
//! per caller.

use lorawan::ids::{Eui64, NetId};

use super::view::{DeliveryView, DeviceView};
use super::{Caller, JoinServer, CAS_ATTEMPTS};
use crate::device::{
    self, parse_import, ClaimError, ClaimLimited, ClaimOutcome, Format, Home, ImportError, Limits,
    OwnerToken, UnclaimError, Unclaimer,
};
use crate::storage::{Page, StorageError, StoredDevice};

/// A device imported, with its owner token (shown once).
#[derive(Debug, Clone)]
pub struct Imported {
    /// DevEUI.
    pub dev_eui: Eui64,
    /// The owner token, in clear: hand it to the manufacturer, it is not kept.
    pub owner_token: OwnerToken,
}

/// Why an admin operation failed; each maps to one HTTP status and one CLI message.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The caller may not do this (not an operator, or not this NetID's network).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No such device (or not one the caller may see).
    #[error("DevEUI {0} is not pre-commissioned on this join server")]
    NotFound(Eui64),
    /// The import file is invalid; nothing was imported.
    #[error("import refused, nothing imported: {0}")]
    Import(ImportError),
    /// Devices of the import already exist; nothing was imported.
    #[error("import refused, nothing imported: {} device(s) already imported", .0.len())]
    AlreadyImported(Vec<Eui64>),
    /// The claim was refused.
    #[error("{0}")]
    Claim(ClaimError),
    /// The unclaim was refused.
    #[error("{0}")]
    Unclaim(UnclaimError),
    /// Too many attempts.
    #[error("{0}")]
    RateLimited(ClaimLimited),
    /// A request field is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The join server failed (storage, randomness, contention).
    #[error("join server unavailable: {0}")]
    Unavailable(String),
}

impl From<StorageError> for AdminError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::AlreadyImported(list) => Self::AlreadyImported(list),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl JoinServer {
    /// Imports a manufacturer file (`format` detected when `None`): every device, each with
    /// a fresh owner token, or nothing. Operators only.
    pub async fn import(
        &self,
        caller: Caller<'_>,
        input: &[u8],
        format: Option<Format>,
        batch: &str,
    ) -> Result<Vec<Imported>, AdminError> {
        require_operator(caller)?;
        let format = format.unwrap_or_else(|| Format::detect(input));
        let rows = parse_import(input, format, Limits::default()).map_err(AdminError::Import)?;
        let at = self.now();
        let mut records = Vec::with_capacity(rows.len());
        let mut imported = Vec::with_capacity(rows.len());
        for row in &rows {
            let (record, owner_token) = device::commission(row, &self.keyring, at, batch)
                .map_err(|e| AdminError::Unavailable(e.to_string()))?;
            imported.push(Imported {
                dev_eui: record.dev_eui,
                owner_token,
            });
            records.push(record);
        }
        self.store.insert_batch(&records, at).await?;
        tracing::info!(
            batch,
            devices = records.len(),
            caller = caller.name(),
            "imported"
        );
        Ok(imported)
    }

    /// Claims `dev_eui` for `home` with its owner token.
    pub async fn claim(
        &self,
        caller: Caller<'_>,
        dev_eui: Eui64,
        token: &OwnerToken,
        home: Home,
    ) -> Result<(ClaimOutcome, DeviceView), AdminError> {
        require_network(caller, home.net_id)?;
        self.admit_claim_attempt(caller, dev_eui)?;
        for _ in 0..CAS_ATTEMPTS {
            let mut stored = self.store.load(dev_eui).await?;
            let at = self.now();
            let outcome = device::claim(stored.as_mut().map(|s| &mut s.record), token, home, at)
                .map_err(AdminError::Claim)?;
            let Some(stored) = stored else {
                return Err(AdminError::NotFound(dev_eui));
            };
            if outcome == ClaimOutcome::AlreadyYours
                || self
                    .store
                    .save_lifecycle(dev_eui, stored.revision, &stored.record.lifecycle)
                    .await?
            {
                tracing::info!(%dev_eui, %home, caller = caller.name(), ?outcome, "claim");
                return Ok((outcome, (&stored).into()));
            }
        }
        Err(AdminError::Unavailable(format!(
            "DevEUI {dev_eui} is changing concurrently; retry"
        )))
    }

    /// Releases `dev_eui`. A network caller names the home it unclaims as (`home`); the
    /// operator may release any claimed device.
    pub async fn unclaim(
        &self,
        caller: Caller<'_>,
        dev_eui: Eui64,
        home: Option<Home>,
    ) -> Result<DeviceView, AdminError> {
        let by = match (caller.is_operator(), home) {
            (true, None) => Unclaimer::Operator,
            (_, Some(home)) => {
                require_network(caller, home.net_id)?;
                Unclaimer::Network(home)
            }
            (false, None) => {
                return Err(AdminError::Invalid {
                    field: "home_net_id",
                    reason: "a network unclaims as its home NetID".into(),
                })
            }
        };
        self.admit_claim_attempt(caller, dev_eui)?;
        for _ in 0..CAS_ATTEMPTS {
            let mut stored = self.visible(caller, dev_eui).await?;
            stored
                .record
                .lifecycle
                .unclaim(by, self.now())
                .map_err(AdminError::Unclaim)?;
            if self
                .store
                .save_lifecycle(dev_eui, stored.revision, &stored.record.lifecycle)
                .await?
            {
                tracing::info!(%dev_eui, caller = caller.name(), "unclaimed");
                return Ok((&stored).into());
            }
        }
        Err(AdminError::Unavailable(format!(
            "DevEUI {dev_eui} is changing concurrently; retry"
        )))
    }

    /// The device as the caller may see it.
    pub async fn show(&self, caller: Caller<'_>, dev_eui: Eui64) -> Result<DeviceView, AdminError> {
        Ok((&self.visible(caller, dev_eui).await?).into())
    }

    /// A page of devices in DevEUI order. Operators only.
    pub async fn list(
        &self,
        caller: Caller<'_>,
        page: Page<'_>,
    ) -> Result<Vec<DeviceView>, AdminError> {
        require_operator(caller)?;
        if let Some(state) = page.state {
            if !["generic", "claimed", "activated", "unclaimed"].contains(&state) {
                return Err(AdminError::Invalid {
                    field: "state",
                    reason: format!("{state:?} is not generic, claimed, activated or unclaimed"),
                });
            }
        }
        let page = Page {
            limit: page.limit.clamp(1, 1000),
            ..page
        };
        Ok(self
            .store
            .list(page)
            .await?
            .iter()
            .map(Into::into)
            .collect())
    }

    /// Sets where the AppSKey of the device's next sessions goes.
    pub async fn set_app_s_key_delivery(
        &self,
        caller: Caller<'_>,
        dev_eui: Eui64,
        delivery: DeliveryView,
    ) -> Result<DeviceView, AdminError> {
        if let DeliveryView::ApplicationServer { as_id } = &delivery {
            if as_id.trim().is_empty() {
                return Err(AdminError::Invalid {
                    field: "as_id",
                    reason: "must not be empty".into(),
                });
            }
        }
        self.visible(caller, dev_eui).await?;
        if !self.store.set_delivery(dev_eui, &delivery.into()).await? {
            return Err(AdminError::NotFound(dev_eui));
        }
        self.show(caller, dev_eui).await
    }

    /// The device, if the caller may see it: operators see all, networks their own.
    async fn visible(
        &self,
        caller: Caller<'_>,
        dev_eui: Eui64,
    ) -> Result<StoredDevice, AdminError> {
        let stored = self
            .store
            .load(dev_eui)
            .await?
            .ok_or(AdminError::NotFound(dev_eui))?;
        if caller.is_operator() {
            return Ok(stored);
        }
        let home = stored.record.lifecycle.state.home();
        match (caller, home) {
            (Caller::Peer(peer), Some(home)) if peer.may_act_as_network(home.net_id) => Ok(stored),
            _ => Err(AdminError::NotFound(dev_eui)),
        }
    }

    /// Counts a claim or unclaim attempt against the limits. Operators (and the console) are
    /// not limited: they may do everything anyway, and onboarding a fleet is their bulk job.
    fn admit_claim_attempt(&self, caller: Caller<'_>, dev_eui: Eui64) -> Result<(), AdminError> {
        if caller.is_operator() {
            return Ok(());
        }
        let now = self.clock.instant();
        let mut guard = self
            .claims
            .lock()
            .map_err(|_| AdminError::Unavailable("claim limiter poisoned".into()))?;
        guard
            .admit(&dev_eui, &caller.name().to_owned(), now)
            .map_err(AdminError::RateLimited)
    }
}

fn require_operator(caller: Caller<'_>) -> Result<(), AdminError> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(AdminError::Forbidden(format!(
            "{} is not an operator",
            caller.name()
        )))
    }
}

fn require_network(caller: Caller<'_>, net_id: NetId) -> Result<(), AdminError> {
    match caller {
        Caller::Console => Ok(()),
        Caller::Peer(peer) if peer.is_operator() || peer.may_act_as_network(net_id) => Ok(()),
        Caller::Peer(peer) => Err(AdminError::Forbidden(format!(
            "{} may not act for NetID {net_id}",
            peer.name
        ))),
    }
}

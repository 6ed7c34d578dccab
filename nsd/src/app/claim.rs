//! Devices created with an owner token are claimed on their join server's admin API before
//! they are stored, and released when they are deleted. The bodies and the reading of the
//! answers are pure ([`crate::join::claim`]); this module does the HTTP.
//!
//! - Creating: the device must join (its profile has `supports_join`), name its JoinEUI, and
//!   the first `[[join.servers]]` entry serving that JoinEUI must have an `admin_url`. The
//!   claim goes first; a refusal fails the creation with the join server's code and message.
//!   If storing then fails, a claim that was new is released again (best effort, logged).
//! - Deleting: the device is deleted, then released on the join server of its JoinEUI (when
//!   that entry has an `admin_url`). The nsd keeps no record of which devices it claimed: a
//!   device it serves and the join server holds for us is released when we stop serving it,
//!   whoever claimed it. A join server that has nothing of ours to release is not an error.
//!   A failed release does not undo the delete (the device is gone from the network either
//!   way; refusing would keep serving a device the operator removed): the failure is
//!   returned, and the API shows it, so the operator can release the device on the join
//!   server itself.

use std::time::Duration;

use lorawan::ids::Eui64;

use super::devices::{DeviceView, ProvisionError};
use super::{read, NetworkServer};
use crate::device::Device;
use crate::join::claim::{
    claim_body, claim_path, read_claim_answer, read_unclaim_answer, unclaim_body, unclaim_path,
    ClaimError, Claimed, Home, Released,
};

/// How long a claim or an unclaim may take.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The admin API of one join server.
#[derive(Clone)]
pub struct AdminClient {
    url: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl AdminClient {
    /// A client of the admin API at `url` (without `/api`), sending `token` as bearer.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(ADMIN_TIMEOUT)
            .build()
            .map_err(|e| format!("admin client: {e}"))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// Where it is.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Claims `dev_eui` for `home` with its owner token.
    pub async fn claim(
        &self,
        dev_eui: Eui64,
        owner_token: &str,
        home: &Home,
    ) -> Result<Claimed, ClaimError> {
        let (status, body) = self
            .post(&claim_path(dev_eui), claim_body(owner_token, home))
            .await?;
        read_claim_answer(status, &body)
    }

    /// Releases `dev_eui`, held for `home`.
    pub async fn unclaim(&self, dev_eui: Eui64, home: &Home) -> Result<Released, ClaimError> {
        let (status, body) = self
            .post(&unclaim_path(dev_eui), unclaim_body(home))
            .await?;
        read_unclaim_answer(status, &body)
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), ClaimError> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let unavailable = |e: reqwest::Error| ClaimError::Unavailable(format!("{}: {e}", self.url));
        let response = request.send().await.map_err(unavailable)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(unavailable)?;
        Ok((status, body.to_vec()))
    }
}

/// What became of a deleted device on its join server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// No join server to tell: an ABP device, or its join server has no `admin_url`.
    NotApplicable,
    /// Released, or nothing of ours to release.
    Done(Released),
    /// The device is deleted, but the join server did not release it.
    Failed(ClaimError),
}

impl NetworkServer {
    /// The home we claim devices for.
    fn home(&self) -> Home {
        Home {
            net_id: self.net_id,
            nsid: self.nsid.clone(),
        }
    }

    /// The admin API of the join server serving `join_eui` (the first entry whose ranges
    /// hold it, as for joins), if that entry has one.
    fn admin_for(&self, join_eui: Eui64) -> Option<&AdminClient> {
        self.joins
            .servers
            .iter()
            .find(|s| s.ranges.iter().any(|r| r.contains(join_eui)))
            .and_then(|s| s.admin.as_ref())
    }

    /// Creates or replaces an OTAA device after claiming it on its join server with
    /// `owner_token`; a refused claim stores nothing.
    pub async fn put_device_claimed(
        &self,
        device: Device,
        owner_token: &str,
    ) -> Result<DeviceView, ProvisionError> {
        let supports_join = read(&self.profiles)
            .get(&device.profile)
            .map(|p| p.supports_join)
            .ok_or_else(|| ProvisionError::UnknownProfile(device.profile.clone()))?;
        if !supports_join {
            return Err(ProvisionError::Activation(
                "an owner token claims a device that joins; this profile has supports_join = false"
                    .into(),
            ));
        }
        let join_eui = device.join_eui.ok_or_else(|| {
            ProvisionError::Activation("an OTAA device needs its join_eui".into())
        })?;
        let admin = self.admin_for(join_eui).ok_or_else(|| {
            ProvisionError::Activation(format!(
                "no [[join.servers]] entry with an admin_url serves JoinEUI {join_eui}: \
                 the device cannot be claimed with an owner token"
            ))
        })?;
        let dev_eui = device.dev_eui;
        let home = self.home();
        let claimed = admin.claim(dev_eui, owner_token, &home).await?;
        tracing::info!(%dev_eui, join_server = admin.url(), ?claimed, "claimed");
        match self.put_device(device, None).await {
            Ok(view) => Ok(view),
            Err(e) => {
                if claimed == Claimed::Claimed {
                    if let Err(release) = admin.unclaim(dev_eui, &home).await {
                        tracing::warn!(%dev_eui, error = %release, "device not stored, and its new claim not released");
                    }
                }
                Err(e)
            }
        }
    }

    /// Deletes a device, then releases it on its join server; see the module documentation
    /// for when a release is attempted and why a failed one does not undo the delete.
    pub async fn delete_device_and_release(
        &self,
        dev_eui: Eui64,
    ) -> Result<Release, ProvisionError> {
        let join_eui = match self.registry.get(dev_eui) {
            Some(entry) => {
                let entry = entry.lock().await;
                entry
                    .profile
                    .supports_join
                    .then_some(entry.device.join_eui)
                    .flatten()
            }
            None => None,
        };
        self.delete_device(dev_eui).await?;
        let Some(admin) = join_eui.and_then(|j| self.admin_for(j)) else {
            return Ok(Release::NotApplicable);
        };
        match admin.unclaim(dev_eui, &self.home()).await {
            Ok(released) => {
                tracing::info!(%dev_eui, join_server = admin.url(), ?released, "released");
                Ok(Release::Done(released))
            }
            Err(e) => {
                tracing::warn!(%dev_eui, join_server = admin.url(), error = %e, "deleted, but not released on the join server");
                Ok(Release::Failed(e))
            }
        }
    }
}

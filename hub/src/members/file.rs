//! The members file: every member of the hub, in TOML, checked whole (one bad entry and
//! the hub refuses the file, naming every problem). The format is documented in
//! `deploy/members.example.toml`.
//!
//! ```toml
//! [[member]]
//! id = "op-a-ns"                       # stable name: UDRs and agreements use it
//! url = "http://127.0.0.1:8700/bi"     # its Backend Interfaces endpoint
//! token_sha256 = "…"                   # the SHA-256 of the bearer token it presents to the
//!                                      # hub (or `token = "…"`, in clear), and/or
//! client_cert_sha256 = ["…"]           # the TLS client certificates it presents (SHA-256)
//! outbound_token_sealed = "sealed:v1:…"  # the bearer token the hub presents to it, sealed
//!                                      # under the hub's [keys] master key (`hub seal-token`);
//!                                      # or `outbound_token = "…"`, in clear (optional)
//! protocol = "1.1"                     # "1.0" or "1.1"
//! mode = "sync"                        # "sync" or "async"
//! dialect = "canonical"                # canonical | chirpstack | tts | helium
//! notifications = true                 # false: never sent PRStartNotif / ErrorNotif
//! net_id = "000013"                    # a network server …
//! nsid = "70b3d57ed0000013"            # … of a NetID with several servers (optional)
//! dev_addr_pools = ["26000000/8"]      # … sharing its NetID (optional)
//! join_eui_ranges = ["70b3d57ed0000000/56"]   # a join server
//! as_ids = []                          # AS-IDs it may send AppSKeyReq as
//! rate_limit = 100                     # messages per second it may send (optional)
//! burst = 200                          # … at once (optional; default: rate_limit)
//! control_url = "http://127.0.0.1:8700/control/peers"  # where peer configs are pushed (optional)
//! [[member.rf_param_sets]]             # its RF parameter sets, as the operator declares them
//! region = "EU868"
//! channels = [{ frequency_hz = 868100000, min_dr = 0, max_dr = 5 }]
//! rx2 = { frequency_hz = 869525000, dr = 0 }
//! ```
//!
//! The outbound token is the one secret the hub must be able to present again, so it cannot
//! be kept as a digest: with a `[keys]` section in the hub config it is kept sealed
//! ([`service::sealing::SealedSecret`]) and opened once, when the file is loaded. A sealed
//! token without `[keys]`, or under a master key the keyring does not hold, makes the file
//! refused, naming the member.

use backend::dialect::Dialect;
use backend::header::ProtocolVersion;
use backend::http::client::PeerEndpoint;
use lorawan::ids::{Eui64, NetId};
use lorawan::netid::DevAddrPool;
use serde::{Deserialize, Serialize};

use std::num::NonZeroU32;

use service::auth::{configured_token, TokenDigest};
use service::sealing::{Keyring, SealError, SealedSecret};

use super::{JoinEuiRange, Member, MemberId, Mode};
use crate::rfparams::{validate_sets, RfParamSet};
use crate::shield::RateLimit;

/// Shortest bearer token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// A members file: `[[member]]` tables.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MembersFile {
    /// The members, in file order.
    #[serde(default)]
    pub member: Vec<MemberEntry>,
}

/// One `[[member]]` table as written (the admin API's JSON has the same shape); every key is
/// documented in `deploy/members.example.toml`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MemberEntry {
    /// Stable name: UDRs, agreements and logs use it.
    pub id: String,
    /// Its Backend Interfaces endpoint.
    pub url: String,
    /// The bearer token it presents to the hub (16+ characters); optional when
    /// `client_cert_sha256` names the certificate it presents instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Instead of `token`: its SHA-256 digest (64 hex digits), so the file holds nothing a
    /// reader could present. The admin API writes only this form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
    /// The bearer token the hub presents to it, in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_token: Option<String>,
    /// Instead of `outbound_token`: that token sealed under the hub's master key
    /// (`sealed:v1:…`, from `hub seal-token`). With a keyring the admin API writes only this
    /// form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_token_sealed: Option<String>,
    /// `1.0` or `1.1`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// `sync` or `async`.
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// `canonical`, `chirpstack`, `tts` or `helium`.
    #[serde(default = "default_dialect")]
    pub dialect: String,
    /// Whether it takes PRStartNotif / ErrorNotif.
    #[serde(default = "default_true")]
    pub notifications: bool,
    /// As a network server: its NetID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_id: Option<String>,
    /// Its NSID, when its NetID has several servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsid: Option<String>,
    /// Its DevAddr pools, when it shares its NetID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dev_addr_pools: Vec<String>,
    /// As a join server: the JoinEUIs it serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub join_eui_ranges: Vec<String>,
    /// AS-IDs it may send AppSKeyReq as.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub as_ids: Vec<String>,
    /// Where the hub pushes its peer configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_url: Option<String>,
    /// Messages per second it may send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// Messages it may send at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// SHA-256 fingerprints (hex of the DER) of the TLS client certificates it may present
    /// instead of, or with, its token; several allow rotation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_cert_sha256: Vec<String>,
    // Last: TOML writes arrays of tables after the plain keys of their table.
    /// Its RF parameter sets, as declared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rf_param_sets: Vec<RfParamSet>,
}

impl std::fmt::Debug for MemberEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberEntry")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn default_protocol() -> String {
    "1.1".into()
}

fn default_mode() -> Mode {
    Mode::Sync
}

fn default_true() -> bool {
    true
}

fn default_dialect() -> String {
    "canonical".into()
}

/// Why a member's outbound token cannot be used or kept at rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundTokenError {
    /// Two forms of one token.
    #[error("both outbound_token and outbound_token_sealed: give one")]
    BothForms,
    /// A sealed token and nothing to open it with.
    #[error(
        "outbound_token_sealed needs the hub's master key ([keys] master_key in the hub \
         config, or HUB_KEYS__MASTER_KEY), and none is configured"
    )]
    NoKeyring,
    /// Sealed under a master key the keyring does not hold.
    #[error(
        "outbound_token_sealed was sealed under master key {sealed_with}, which is not in \
         [keys] (master_key has id {current}): configure that key (as a retired key after a \
         rotation) or seal the token again with `hub seal-token`"
    )]
    UnknownMasterKey {
        /// The id in the sealed text.
        sealed_with: service::sealing::KeyId,
        /// The id of the keyring's current key.
        current: service::sealing::KeyId,
    },
    /// Not a sealed text, altered, or sealed under another key with a colliding id.
    #[error("outbound_token_sealed: {0}")]
    Unsealable(SealError),
    /// The token in clear cannot be sealed (RFC 5649 takes up to 2³² - 1 bytes).
    #[error("outbound_token cannot be sealed: {0}")]
    Sealing(SealError),
    /// It opens, but to bytes that are not text (it was not a token that was sealed).
    #[error("outbound_token_sealed opens to bytes that are not UTF-8 text: not a sealed token")]
    NotText,
    /// An empty token cannot be sealed (nor be worth presenting).
    #[error("outbound_token is empty")]
    Empty,
}

/// A member with the credentials it authenticates with.
#[derive(Debug, Clone)]
pub struct LoadedMember {
    /// The member.
    pub member: Member,
    /// The digest of its inbound bearer token, if it has one (for the token table).
    pub token: Option<TokenDigest>,
    /// The fingerprints of the client certificates it may present: lower-case hex SHA-256
    /// of the DER, as [`service::tls::ClientCertificate::sha256`].
    pub client_cert_sha256: Vec<String>,
}

/// Parses a members file without a keyring (a sealed outbound token is refused): every
/// member, or every problem (`member[i] (id): reason`).
pub fn parse(text: &str) -> Result<Vec<LoadedMember>, Vec<String>> {
    parse_unsealing(text, None)
}

/// Parses a members file, opening sealed outbound tokens with `keyring`.
pub fn parse_unsealing(
    text: &str,
    keyring: Option<&Keyring>,
) -> Result<Vec<LoadedMember>, Vec<String>> {
    let file: MembersFile = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    check(file, keyring)
}

/// Checks the entries of a members file already read, opening sealed outbound tokens with
/// `keyring`: every member, or every problem.
pub fn check(
    file: MembersFile,
    keyring: Option<&Keyring>,
) -> Result<Vec<LoadedMember>, Vec<String>> {
    let mut members = Vec::new();
    let mut problems = Vec::new();
    for (index, entry) in file.member.into_iter().enumerate() {
        let id = entry.id.clone();
        match entry.into_member(keyring) {
            Ok(member) => members.push(member),
            Err(reason) => problems.push(format!("member[{index}] ({id}): {reason}")),
        }
    }
    if problems.is_empty() {
        Ok(members)
    } else {
        Err(problems)
    }
}

impl MemberEntry {
    /// The member this entry describes, with its token and its outbound token (opened with
    /// `keyring` when sealed), or what is wrong with it.
    pub fn into_member(self, keyring: Option<&Keyring>) -> Result<LoadedMember, String> {
        if self.id.trim().is_empty() {
            return Err("id must not be empty".into());
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!("url {:?} is not an http(s) URL", self.url));
        }
        let token = self.token_digest()?;
        let outbound_token = self.outbound_token(keyring).map_err(|e| e.to_string())?;
        let client_cert_sha256 = fingerprints(&self.client_cert_sha256)?;
        if token.is_none() && client_cert_sha256.is_empty() {
            return Err(
                "neither a token (token or token_sha256) nor client_cert_sha256: \
                 it could not authenticate"
                    .into(),
            );
        }
        let protocol = match self.protocol.as_str() {
            "1.0" => ProtocolVersion::V1_0,
            "1.1" => ProtocolVersion::V1_1,
            other => return Err(format!("protocol {other:?} is not \"1.0\" or \"1.1\"")),
        };
        let dialect = Dialect::named(&self.dialect).ok_or_else(|| {
            format!(
                "dialect {:?} is not canonical, chirpstack, tts or helium",
                self.dialect
            )
        })?;
        let net_id = self
            .net_id
            .as_deref()
            .map(|t| t.parse::<NetId>().map_err(|e| format!("net_id {t:?}: {e}")))
            .transpose()?;
        let nsid = self
            .nsid
            .as_deref()
            .map(|t| t.parse::<Eui64>().map_err(|e| format!("nsid {t:?}: {e}")))
            .transpose()?;
        if nsid.is_some() && net_id.is_none() {
            return Err("nsid without net_id".into());
        }
        let dev_addr_pools = match net_id {
            Some(net_id) => self
                .dev_addr_pools
                .iter()
                .map(|t| {
                    DevAddrPool::parse(net_id, t).map_err(|e| format!("dev_addr_pools {t:?}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None if self.dev_addr_pools.is_empty() => Vec::new(),
            None => return Err("dev_addr_pools without net_id".into()),
        };
        let join_eui_ranges = self
            .join_eui_ranges
            .iter()
            .map(|t| {
                t.parse::<JoinEuiRange>()
                    .map_err(|e| format!("join_eui_ranges: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if net_id.is_none() && join_eui_ranges.is_empty() && self.as_ids.is_empty() {
            return Err(
                "neither a network server (net_id), a join server (join_eui_ranges) \
                        nor an application server (as_ids)"
                    .into(),
            );
        }
        if let Some(url) = &self.control_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("control_url {url:?} is not an http(s) URL"));
            }
        }
        if net_id.is_none() && !self.rf_param_sets.is_empty() {
            return Err(
                "rf_param_sets without net_id: only network servers have RF parameter sets".into(),
            );
        }
        let rf_param_sets = validate_sets(&protocol, self.rf_param_sets).map_err(|problems| {
            problems
                .iter()
                .map(|p| format!("rf_param_sets{}: {}", p.field, p.reason))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let rate_limit = rate_limit(self.rate_limit, self.burst)?;
        Ok(LoadedMember {
            member: Member {
                id: MemberId(self.id),
                endpoint: PeerEndpoint::new(&self.url, outbound_token)
                    .map_err(|e| e.to_string())?,
                protocol,
                mode: self.mode,
                dialect,
                accepts_notifications: self.notifications,
                net_id,
                nsid,
                dev_addr_pools,
                join_eui_ranges,
                as_ids: self.as_ids,
                control_url: self.control_url,
                rf_param_sets,
                rate_limit,
            },
            token,
            client_cert_sha256,
        })
    }

    /// The digest of its inbound token: `token` (16+ characters) or `token_sha256`, not both.
    pub fn token_digest(&self) -> Result<Option<TokenDigest>, String> {
        configured_token(
            self.token.as_deref(),
            self.token_sha256.as_deref(),
            MIN_TOKEN_LEN,
        )
    }

    /// The bearer token the hub presents to it: `outbound_token`, or `outbound_token_sealed`
    /// opened with `keyring`; not both.
    pub fn outbound_token(
        &self,
        keyring: Option<&Keyring>,
    ) -> Result<Option<String>, OutboundTokenError> {
        match (&self.outbound_token, &self.outbound_token_sealed) {
            (Some(_), Some(_)) => Err(OutboundTokenError::BothForms),
            (clear, None) => Ok(clear.clone()),
            (None, Some(sealed)) => {
                let keyring = keyring.ok_or(OutboundTokenError::NoKeyring)?;
                let secret = keyring
                    .unseal_secret(&parse_sealed(sealed)?)
                    .map_err(|e| unseal_error(e, keyring))?;
                String::from_utf8(secret)
                    .map(Some)
                    .map_err(|_| OutboundTokenError::NotText)
            }
        }
    }

    /// Whether its outbound token is written in clear (worth a warning once a keyring can
    /// seal it).
    pub fn has_clear_outbound_token(&self) -> bool {
        self.outbound_token.is_some()
    }

    /// The entry with its outbound token as it is kept at rest under `keyring`: a token in
    /// clear sealed under the current master key, a token sealed under a retired key sealed
    /// again under the current one. Refused when both forms are given or the sealed one
    /// does not open.
    pub fn with_outbound_token_sealed(
        mut self,
        keyring: &Keyring,
    ) -> Result<Self, OutboundTokenError> {
        let sealed = match (
            self.outbound_token.take(),
            self.outbound_token_sealed.take(),
        ) {
            (Some(_), Some(_)) => return Err(OutboundTokenError::BothForms),
            (None, None) => None,
            (Some(clear), None) if clear.is_empty() => return Err(OutboundTokenError::Empty),
            (Some(clear), None) => Some(
                keyring
                    .seal_secret(clear.as_bytes())
                    .map_err(OutboundTokenError::Sealing)?,
            ),
            (None, Some(text)) => {
                let sealed = parse_sealed(&text)?;
                let resealed = keyring
                    .reseal_secret(&sealed)
                    .map_err(|e| unseal_error(e, keyring))?;
                Some(resealed.unwrap_or(sealed))
            }
        };
        self.outbound_token_sealed = sealed.map(|s| s.to_string());
        Ok(self)
    }

    /// The entry as it may be kept at rest: a token in clear replaced by its digest
    /// (`token_sha256`, lower-case hex). Refused, with the reason, when the token is not
    /// acceptable as written (too short, both forms, not hex): once hashed, a short token
    /// could no longer be told apart.
    pub fn with_token_hashed(mut self) -> Result<Self, String> {
        if let Some(digest) = self.token_digest()? {
            self.token = None;
            self.token_sha256 = Some(digest.to_hex());
        }
        Ok(self)
    }
}

fn parse_sealed(text: &str) -> Result<SealedSecret, OutboundTokenError> {
    text.parse().map_err(OutboundTokenError::Unsealable)
}

/// An unseal failure, with the keyring's current key named when the sealing key is unknown.
fn unseal_error(error: SealError, keyring: &Keyring) -> OutboundTokenError {
    match error {
        SealError::UnknownKeyId(sealed_with) => OutboundTokenError::UnknownMasterKey {
            sealed_with,
            current: keyring.current().id(),
        },
        other => OutboundTokenError::Unsealable(other),
    }
}

/// Certificate fingerprints as written (any case; colons allowed, as `openssl x509
/// -fingerprint -sha256` prints them), as lower-case hex without duplicates.
fn fingerprints(written: &[String]) -> Result<Vec<String>, String> {
    let mut fingerprints: Vec<String> = Vec::with_capacity(written.len());
    for text in written {
        let hex: String = text
            .trim()
            .chars()
            .filter(|c| *c != ':')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "client_cert_sha256 {text:?} is not a SHA-256 fingerprint (64 hex digits)"
            ));
        }
        if !fingerprints.contains(&hex) {
            fingerprints.push(hex);
        }
    }
    Ok(fingerprints)
}

/// The member's rate limit: `rate_limit` messages per second (at least 1), `burst` at once
/// (at least 1, default one second's worth); none without `rate_limit`.
fn rate_limit(per_second: Option<u32>, burst: Option<u32>) -> Result<Option<RateLimit>, String> {
    let Some(per_second) = per_second else {
        return match burst {
            Some(_) => Err("burst without rate_limit".into()),
            None => Ok(None),
        };
    };
    let per_second = NonZeroU32::new(per_second)
        .ok_or("rate_limit: at least 1 message per second (omit it for no limit)")?;
    let burst = match burst {
        None => per_second,
        Some(burst) => NonZeroU32::new(burst).ok_or("burst: at least 1")?,
    };
    Ok(Some(RateLimit { per_second, burst }))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn rate_limits_are_checked() {
        let member = |extra: &str| {
            format!(
                "[[member]]\nid = \"a\"\nurl = \"http://127.0.0.1:1/bi\"\n\
                 token = \"a-token-of-16-chars\"\nnet_id = \"000013\"\n{extra}\n"
            )
        };
        let loaded = parse(&member("rate_limit = 10")).expect("a rate");
        let limit = loaded[0].member.rate_limit.expect("limited");
        assert_eq!((limit.per_second.get(), limit.burst.get()), (10, 10));
        let loaded = parse(&member("rate_limit = 10\nburst = 30")).expect("a burst");
        assert_eq!(loaded[0].member.rate_limit.map(|l| l.burst.get()), Some(30));
        assert!(parse(&member(""))
            .expect("unlimited")
            .first()
            .is_some_and(|m| m.member.rate_limit.is_none()));
        for (extra, problem) in [
            ("rate_limit = 0", "rate_limit: at least 1"),
            ("rate_limit = 5\nburst = 0", "burst: at least 1"),
            ("burst = 5", "burst without rate_limit"),
        ] {
            let problems = parse(&member(extra)).expect_err(extra);
            assert!(problems[0].contains(problem), "{problems:?}");
        }
    }

    #[test]
    fn every_problem_is_named_with_its_member() {
        let text = r#"
[[member]]
id = "ok"
url = "http://127.0.0.1:1/bi"
token = "a-token-of-16-chars"
net_id = "000013"

[[member]]
id = "bad"
url = "ftp://x"
token = "short"
"#;
        let problems = parse(text).expect_err("one bad member");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("member[1] (bad): url"),
            "{problems:?}"
        );
        assert!(parse("[[member]]\nid = 1").is_err());
    }

    #[test]
    fn rf_param_sets_and_control_url_are_checked_with_their_member() {
        let text = r#"
[[member]]
id = "ns"
url = "http://127.0.0.1:1/bi"
token = "a-token-of-16-chars"
net_id = "000013"
control_url = "ftp://x"

[[member]]
id = "ns2"
url = "http://127.0.0.1:1/bi"
token = "another-token-of-16"
net_id = "000014"
[[member.rf_param_sets]]
region = "EU868"
channels = [{ frequency_hz = 915000000, min_dr = 0, max_dr = 5 }]
rx2 = { frequency_hz = 869525000, dr = 0 }

[[member]]
id = "js"
url = "http://127.0.0.1:1/bi"
token = "a-third-token-16ch"
join_eui_ranges = ["0000000000000001"]
[[member.rf_param_sets]]
region = "EU868"
channels = [{ frequency_hz = 868100000, min_dr = 0, max_dr = 5 }]
rx2 = { frequency_hz = 869525000, dr = 0 }
"#;
        let problems = parse(text).expect_err("three bad members");
        assert_eq!(
            problems,
            vec![
                "member[0] (ns): control_url \"ftp://x\" is not an http(s) URL",
                "member[1] (ns2): rf_param_sets[0].channels[0].frequency_hz: 915000000 Hz is outside the EU868 band 863000000..=870000000 Hz",
                "member[2] (js): rf_param_sets without net_id: only network servers have RF parameter sets",
            ]
        );
    }

    #[test]
    fn a_token_is_given_in_clear_or_as_its_digest_never_both() {
        let digest = service::auth::TokenDigest::of("a-token-of-16-chars");
        let member = |id: &str, credentials: &str| {
            format!(
                "[[member]]\nid = \"{id}\"\nurl = \"http://127.0.0.1:1/bi\"\n\
                 net_id = \"000013\"\n{credentials}\n"
            )
        };
        let clear = parse(&member("a", "token = \"a-token-of-16-chars\"")).expect("clear");
        let hashed = parse(&member(
            "a",
            &format!(
                "token_sha256 = \"{}\"",
                digest.to_hex().to_ascii_uppercase()
            ),
        ))
        .expect("digest, upper case");
        assert_eq!(clear[0].token, Some(digest));
        assert_eq!(hashed[0].token, Some(digest));
        for (credentials, problem) in [
            (
                format!(
                    "token = \"a-token-of-16-chars\"\ntoken_sha256 = \"{}\"",
                    digest.to_hex()
                ),
                "member[0] (a): both token and token_sha256",
            ),
            (
                "token_sha256 = \"abc\"".to_owned(),
                "member[0] (a): token_sha256 must be 64 hex digits (a SHA-256 digest), not 3",
            ),
            (
                format!("token_sha256 = \"{}g\"", &digest.to_hex()[1..]),
                "member[0] (a): token_sha256 'g' at position 63 is not a hex digit",
            ),
            (
                String::new(),
                "member[0] (a): neither a token (token or token_sha256) nor client_cert_sha256",
            ),
        ] {
            let problems = parse(&member("a", &credentials)).expect_err(problem);
            assert!(problems[0].starts_with(problem), "{problems:?}");
        }
        // Kept at rest: the clear token becomes its digest; a digest stays as it is.
        let entry = |text: &str| -> super::MemberEntry {
            let file: super::MembersFile = toml::from_str(text).expect("entry");
            file.member.into_iter().next().expect("one")
        };
        let rested = entry(&member("a", "token = \"a-token-of-16-chars\""))
            .with_token_hashed()
            .expect("hashed");
        assert_eq!(rested.token, None);
        assert_eq!(rested.token_sha256, Some(digest.to_hex()));
        assert!(entry(&member("a", "token = \"short\""))
            .with_token_hashed()
            .is_err_and(|e| e.contains("at least 16")));
    }

    fn keyring(current: u8, retired: &[u8]) -> service::sealing::Keyring {
        let key = |b: u8| service::sealing::MasterKey::new(lorawan::ids::AesKey::new([b; 16]));
        service::sealing::Keyring::new(key(current), retired.iter().map(|b| key(*b)).collect())
            .expect("keyring")
    }

    fn entry_with(outbound: &str) -> super::MemberEntry {
        let text = format!(
            "[[member]]\nid = \"b\"\nurl = \"http://127.0.0.1:1/bi\"\n\
             token = \"a-token-of-16-chars\"\nnet_id = \"000013\"\n{outbound}\n"
        );
        let file: super::MembersFile = toml::from_str(&text).expect("entry");
        file.member.into_iter().next().expect("one")
    }

    #[test]
    fn an_outbound_token_is_given_in_clear_or_sealed_and_opened_at_load() {
        let ring = keyring(1, &[]);
        let sealed = ring
            .seal_secret(b"hub-to-b-token")
            .expect("sealed")
            .to_string();
        let text = format!(
            "[[member]]\nid = \"b\"\nurl = \"http://127.0.0.1:1/bi\"\n\
             token = \"a-token-of-16-chars\"\nnet_id = \"000013\"\n\
             outbound_token_sealed = \"{sealed}\"\n"
        );
        let loaded = super::parse_unsealing(&text, Some(&ring)).expect("opens");
        assert_eq!(
            loaded[0].member.endpoint.bearer_token(),
            Some("hub-to-b-token")
        );
        let debug = format!("{:?}", loaded[0]);
        assert!(!debug.contains("hub-to-b-token"), "{debug}");
        assert_eq!(
            super::parse(&text).expect_err("no keyring"),
            vec![
                "member[0] (b): outbound_token_sealed needs the hub's master key ([keys] \
                 master_key in the hub config, or HUB_KEYS__MASTER_KEY), and none is configured"
            ]
        );
        let other = keyring(2, &[]);
        let problems = super::parse_unsealing(&text, Some(&other)).expect_err("another key");
        assert_eq!(
            problems,
            vec![format!(
                "member[0] (b): outbound_token_sealed was sealed under master key {}, which is \
                 not in [keys] (master_key has id {}): configure that key (as a retired key \
                 after a rotation) or seal the token again with `hub seal-token`",
                ring.current().id(),
                other.current().id()
            )]
        );
        let both = entry_with(&format!(
            "outbound_token = \"hub-to-b-token\"\noutbound_token_sealed = \"{sealed}\""
        ));
        assert_eq!(
            both.clone().into_member(Some(&ring)).err().as_deref(),
            Some("both outbound_token and outbound_token_sealed: give one")
        );
        assert_eq!(
            both.with_outbound_token_sealed(&ring).err(),
            Some(super::OutboundTokenError::BothForms)
        );
        let garbled = entry_with("outbound_token_sealed = \"hub-to-b-token\"");
        assert_eq!(
            garbled.into_member(Some(&ring)).err().as_deref(),
            Some("outbound_token_sealed: a sealed secret starts with \"sealed:v1:\"")
        );
    }

    #[test]
    fn at_rest_a_clear_outbound_token_is_sealed_and_a_retired_key_replaced() {
        let old = keyring(1, &[]);
        let clear = entry_with("outbound_token = \"hub-to-b-token\"");
        assert!(clear.has_clear_outbound_token());
        let sealed = clear.with_outbound_token_sealed(&old).expect("sealed");
        assert_eq!(sealed.outbound_token, None);
        assert!(!sealed.has_clear_outbound_token());
        let text = sealed.outbound_token_sealed.clone().expect("sealed form");
        assert!(text.starts_with("sealed:v1:") && !text.contains("hub-to-b-token"));
        // The same entry under the same key stays as it is; under a rotated keyring it is
        // sealed again with the current key and still opens to the token.
        let again = sealed
            .clone()
            .with_outbound_token_sealed(&old)
            .expect("kept");
        assert_eq!(again.outbound_token_sealed.as_deref(), Some(text.as_str()));
        let rotated = keyring(2, &[1]);
        let resealed = sealed
            .with_outbound_token_sealed(&rotated)
            .expect("resealed");
        let new_text = resealed.outbound_token_sealed.clone().expect("sealed form");
        assert!(new_text.starts_with(&format!("sealed:v1:{}", rotated.current().id())));
        assert_eq!(
            resealed.outbound_token(Some(&keyring(2, &[]))),
            Ok(Some("hub-to-b-token".to_owned()))
        );
        assert_eq!(
            entry_with("outbound_token = \"\"")
                .with_outbound_token_sealed(&old)
                .err(),
            Some(super::OutboundTokenError::Empty)
        );
        let none = entry_with("")
            .with_outbound_token_sealed(&old)
            .expect("no token");
        assert_eq!(
            (none.outbound_token, none.outbound_token_sealed),
            (None, None)
        );
    }
}

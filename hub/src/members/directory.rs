//! Every member, indexed for authentication and routing. Built whole and checked: ids,
//! tokens and client certificate fingerprints unique, no JoinEUI served by two members, no
//! NetID + NSID claimed twice, and members sharing a NetID without NSIDs told apart by
//! non-overlapping DevAddr pools.

use std::collections::HashMap;

use lorawan::ids::{DevAddr, Eui64, NetId};
use lorawan::netid::first_overlap;
use service::auth::TokenTable;

use super::file::LoadedMember;
use super::{Member, MemberId};

/// Why a set of members cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("members: {}", .0.join("; "))]
pub struct DirectoryError(pub Vec<String>);

/// Where a message to a network server can go.
#[derive(Debug, Clone, Copy)]
pub enum Receiver<'a> {
    /// Exactly this member.
    One(&'a Member),
    /// No member has this NetID (and NSID).
    Unknown,
    /// Several members share the NetID and nothing tells them apart.
    Ambiguous,
}

/// What a sender presented to prove who it is: a bearer token, the verified TLS client
/// certificate's fingerprint, or both.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The `Authorization: Bearer` token.
    pub token: Option<&'a str>,
    /// Lower-case hex SHA-256 of the client certificate the TLS layer verified.
    pub client_cert_sha256: Option<&'a str>,
}

/// Why a sender is not authenticated. Its `Display` is the Description of the
/// UnknownSender answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Neither a token nor a client certificate.
    #[error("missing credentials: neither a bearer token nor a client certificate")]
    Missing,
    /// A token no member holds.
    #[error("unknown bearer token")]
    UnknownToken,
    /// A (verified) client certificate bound to no member.
    #[error("client certificate {0} is bound to no member")]
    UnknownCertificate(String),
    /// The token and the certificate name different members.
    #[error("the bearer token and the client certificate disagree: they are {token}'s and {certificate}'s")]
    Disagree {
        /// The member holding the token.
        token: MemberId,
        /// The member bound to the certificate.
        certificate: MemberId,
    },
}

/// The members, indexed.
#[derive(Debug, Default)]
pub struct Directory {
    members: Vec<Member>,
    tokens: TokenTable<usize>,
    by_certificate: HashMap<String, usize>,
    by_id: HashMap<MemberId, usize>,
    by_net_id: HashMap<NetId, Vec<usize>>,
}

impl Directory {
    /// Indexes `loaded`, or names every conflict.
    pub fn new(loaded: Vec<LoadedMember>) -> Result<Self, DirectoryError> {
        let mut problems = Vec::new();
        let mut by_id = HashMap::new();
        let mut by_net_id: HashMap<NetId, Vec<usize>> = HashMap::new();
        let mut by_certificate: HashMap<String, usize> = HashMap::new();
        for (index, entry) in loaded.iter().enumerate() {
            let member = &entry.member;
            if by_id.insert(member.id.clone(), index).is_some() {
                problems.push(format!("id {} is used twice", member.id));
            }
            for fingerprint in &entry.client_cert_sha256 {
                if let Some(&other) = by_certificate.get(fingerprint) {
                    problems.push(format!(
                        "{} and {} are bound to the same client certificate {fingerprint}",
                        loaded[other].member.id, member.id
                    ));
                } else {
                    by_certificate.insert(fingerprint.clone(), index);
                }
            }
            if let Some(net_id) = member.net_id {
                by_net_id.entry(net_id).or_default().push(index);
            }
            for other in &loaded[..index] {
                // Digests: a token in clear here and its token_sha256 there are one token.
                if other.token.is_some() && other.token == entry.token {
                    problems.push(format!(
                        "{} and {} share a token",
                        other.member.id, member.id
                    ));
                }
                for range in &member.join_eui_ranges {
                    if other
                        .member
                        .join_eui_ranges
                        .iter()
                        .any(|r| r.overlaps(range))
                    {
                        problems.push(format!(
                            "{} and {} both serve JoinEUIs of {}-{}",
                            other.member.id, member.id, range.first, range.last
                        ));
                    }
                }
            }
        }
        for (net_id, indexes) in &by_net_id {
            if indexes.len() < 2 {
                continue;
            }
            let members: Vec<&Member> = indexes.iter().map(|&i| &loaded[i].member).collect();
            let mut nsids: Vec<Eui64> = members.iter().filter_map(|m| m.nsid).collect();
            nsids.sort_unstable();
            if nsids.windows(2).any(|w| w[0] == w[1]) {
                problems.push(format!("NetID {net_id}: two members have the same NSID"));
            }
            // Senders without NSID (TS002 1.0) reach these members by DevAddr only.
            if members.iter().any(|m| m.dev_addr_pools.is_empty()) {
                problems.push(format!(
                    "NetID {net_id} is shared by {}: each needs dev_addr_pools",
                    members
                        .iter()
                        .map(|m| m.id.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let pools: Vec<_> = members
                .iter()
                .flat_map(|m| m.dev_addr_pools.clone())
                .collect();
            if let Some((a, b)) = first_overlap(&pools) {
                problems.push(format!(
                    "NetID {net_id}: DevAddr pools {} and {} overlap",
                    pools[a], pools[b]
                ));
            }
        }
        if !problems.is_empty() {
            return Err(DirectoryError(problems));
        }
        let tokens = TokenTable::from_digests(
            loaded
                .iter()
                .enumerate()
                .filter_map(|(index, entry)| Some((entry.token?, index))),
        );
        Ok(Self {
            members: loaded.into_iter().map(|entry| entry.member).collect(),
            tokens,
            by_certificate,
            by_id,
            by_net_id,
        })
    }

    /// The member holding `token`.
    pub fn authenticate(&self, token: Option<&str>) -> Option<&Member> {
        self.tokens
            .authenticate(token)
            .and_then(|&index| self.members.get(index))
    }

    /// The member the sender's `credentials` name. Each credential presented must be a
    /// member's, and both (when both are presented) the same member's: a token that does
    /// not match the certificate is refused, not ignored.
    pub fn authenticate_peer(&self, credentials: Credentials<'_>) -> Result<&Member, AuthError> {
        let by_token = match credentials.token {
            None => None,
            Some(token) => Some(
                self.tokens
                    .authenticate(Some(token))
                    .copied()
                    .ok_or(AuthError::UnknownToken)?,
            ),
        };
        let by_certificate = match credentials.client_cert_sha256 {
            None => None,
            Some(fingerprint) => Some(
                self.by_certificate
                    .get(fingerprint)
                    .copied()
                    .ok_or_else(|| AuthError::UnknownCertificate(fingerprint.to_owned()))?,
            ),
        };
        let member = |index: usize| self.members.get(index).ok_or(AuthError::Missing);
        match (by_token, by_certificate) {
            (None, None) => Err(AuthError::Missing),
            (Some(token), Some(certificate)) if token != certificate => Err(AuthError::Disagree {
                token: member(token)?.id.clone(),
                certificate: member(certificate)?.id.clone(),
            }),
            (Some(index), _) | (None, Some(index)) => member(index),
        }
    }

    /// The fingerprints of the client certificates `id` may present (none for an unknown id).
    pub fn client_certificates(&self, id: &MemberId) -> Vec<&str> {
        let Some(&index) = self.by_id.get(id) else {
            return Vec::new();
        };
        let mut fingerprints: Vec<&str> = self
            .by_certificate
            .iter()
            .filter(|(_, &owner)| owner == index)
            .map(|(fingerprint, _)| fingerprint.as_str())
            .collect();
        fingerprints.sort_unstable();
        fingerprints
    }

    /// The member with this id.
    pub fn get(&self, id: &MemberId) -> Option<&Member> {
        self.by_id
            .get(id)
            .and_then(|&index| self.members.get(index))
    }

    /// Every member.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The join server serving `join_eui`.
    pub fn join_server(&self, join_eui: Eui64) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.join_eui_ranges.iter().any(|r| r.contains(join_eui)))
    }

    /// The network server of `net_id`: by NSID when given, else the only member of the NetID,
    /// else the one whose DevAddr pool holds `dev_addr`.
    pub fn network_server(
        &self,
        net_id: NetId,
        nsid: Option<Eui64>,
        dev_addr: Option<DevAddr>,
    ) -> Receiver<'_> {
        let candidates: Vec<&Member> = self
            .by_net_id
            .get(&net_id)
            .map(|indexes| {
                indexes
                    .iter()
                    .filter_map(|&i| self.members.get(i))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(nsid) = nsid {
            return candidates
                .into_iter()
                .find(|m| m.nsid == Some(nsid))
                .map_or(Receiver::Unknown, Receiver::One);
        }
        match candidates.as_slice() {
            [] => Receiver::Unknown,
            [only] => Receiver::One(only),
            several => match dev_addr {
                Some(addr) => several
                    .iter()
                    .find(|m| m.dev_addr_pools.iter().any(|p| p.contains(addr)))
                    .map_or(Receiver::Unknown, |m| Receiver::One(m)),
                None => Receiver::Ambiguous,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members::file::parse;

    const CERT_A1: &str = "aa00000000000000000000000000000000000000000000000000000000000001";
    const CERT_A2: &str = "aa00000000000000000000000000000000000000000000000000000000000002";
    const CERT_B: &str = "bb00000000000000000000000000000000000000000000000000000000000001";

    fn directory(text: &str) -> Result<Directory, DirectoryError> {
        Directory::new(parse(text).map_err(DirectoryError)?)
    }

    /// a: bound to two certificates (rotation), no token; b: a token and a certificate;
    /// c: a token only.
    fn federation() -> Directory {
        directory(&format!(
            r#"
[[member]]
id = "a"
url = "http://127.0.0.1:1/bi"
net_id = "000013"
client_cert_sha256 = ["{CERT_A1}", "{}"]

[[member]]
id = "b"
url = "http://127.0.0.1:1/bi"
token = "token-of-b-0123456789"
net_id = "000014"
client_cert_sha256 = ["{CERT_B}"]

[[member]]
id = "c"
url = "http://127.0.0.1:1/bi"
token = "token-of-c-0123456789"
net_id = "000015"
"#,
            // Written upper case with colons, as `openssl x509 -fingerprint` prints it.
            CERT_A2
                .to_ascii_uppercase()
                .as_bytes()
                .chunks(2)
                .map(|pair| String::from_utf8_lossy(pair).into_owned())
                .collect::<Vec<_>>()
                .join(":")
        ))
        .expect("federation")
    }

    fn who(
        directory: &Directory,
        token: Option<&str>,
        cert: Option<&str>,
    ) -> Result<String, AuthError> {
        directory
            .authenticate_peer(Credentials {
                token,
                client_cert_sha256: cert,
            })
            .map(|m| m.id.0.clone())
    }

    #[test]
    fn a_certificate_or_a_token_names_the_member() {
        let d = federation();
        assert_eq!(who(&d, None, Some(CERT_A1)), Ok("a".into()));
        assert_eq!(who(&d, None, Some(CERT_A2)), Ok("a".into()), "rotation");
        assert_eq!(who(&d, Some("token-of-b-0123456789"), None), Ok("b".into()));
        assert_eq!(who(&d, None, Some(CERT_B)), Ok("b".into()));
        assert_eq!(
            who(&d, Some("token-of-b-0123456789"), Some(CERT_B)),
            Ok("b".into()),
            "both, agreeing"
        );
        assert_eq!(who(&d, Some("token-of-c-0123456789"), None), Ok("c".into()));
        // What each member is bound to, normalised (for the admin API's view).
        assert_eq!(d.client_certificates(&"a".into()), [CERT_A1, CERT_A2]);
        assert!(d.client_certificates(&"c".into()).is_empty());
        assert!(d.client_certificates(&"nobody".into()).is_empty());
        // The token-only API is unchanged.
        assert!(d.authenticate(Some("token-of-c-0123456789")).is_some());
        assert!(d.authenticate(None).is_none());
    }

    #[test]
    fn unknown_or_disagreeing_credentials_are_refused() {
        let d = federation();
        assert_eq!(who(&d, None, None), Err(AuthError::Missing));
        assert_eq!(
            who(&d, Some("token-of-nobody-01234"), None),
            Err(AuthError::UnknownToken)
        );
        let unbound = "cc00000000000000000000000000000000000000000000000000000000000001";
        assert_eq!(
            who(&d, None, Some(unbound)),
            Err(AuthError::UnknownCertificate(unbound.into()))
        );
        // A valid token does not excuse an unbound certificate, nor the reverse.
        assert!(who(&d, Some("token-of-c-0123456789"), Some(unbound)).is_err());
        assert_eq!(
            who(&d, Some("token-of-nobody-01234"), Some(CERT_A1)),
            Err(AuthError::UnknownToken)
        );
        let disagree = who(&d, Some("token-of-b-0123456789"), Some(CERT_A1));
        assert_eq!(
            disagree,
            Err(AuthError::Disagree {
                token: "b".into(),
                certificate: "a".into()
            })
        );
        let description = disagree.expect_err("refused").to_string();
        assert!(description.contains("disagree"), "{description}");
    }

    #[test]
    fn a_certificate_bound_to_two_members_and_members_without_credentials_are_load_errors() {
        let err = directory(&format!(
            r#"
[[member]]
id = "a"
url = "http://127.0.0.1:1/bi"
net_id = "000013"
client_cert_sha256 = ["{CERT_A1}"]

[[member]]
id = "b"
url = "http://127.0.0.1:1/bi"
token = "token-of-b-0123456789"
net_id = "000014"
client_cert_sha256 = ["{}"]
"#,
            CERT_A1.to_ascii_uppercase()
        ))
        .expect_err("shared certificate");
        assert_eq!(
            err.0,
            vec![format!(
                "a and b are bound to the same client certificate {CERT_A1}"
            )]
        );
        let err = directory(
            "[[member]]\nid = \"a\"\nurl = \"http://127.0.0.1:1/bi\"\nnet_id = \"000013\"\n",
        )
        .expect_err("no credentials");
        assert!(
            err.0[0].contains("neither a token (token or token_sha256) nor client_cert_sha256"),
            "{err}"
        );
        let err = directory(
            "[[member]]\nid = \"a\"\nurl = \"http://127.0.0.1:1/bi\"\nnet_id = \"000013\"\n\
             client_cert_sha256 = [\"abc\"]\n",
        )
        .expect_err("not a fingerprint");
        assert!(err.0[0].contains("client_cert_sha256 \"abc\""), "{err}");
        // Two members without tokens do not "share" the absent token.
        let two = format!(
            "[[member]]\nid = \"a\"\nurl = \"http://127.0.0.1:1/bi\"\nnet_id = \"000013\"\n\
             client_cert_sha256 = [\"{CERT_A1}\"]\n\
             [[member]]\nid = \"b\"\nurl = \"http://127.0.0.1:1/bi\"\nnet_id = \"000014\"\n\
             client_cert_sha256 = [\"{CERT_B}\"]\n"
        );
        assert!(directory(&two).is_ok());
    }

    #[test]
    fn a_token_in_clear_and_its_digest_elsewhere_are_one_shared_token() {
        let digest = service::auth::TokenDigest::of("token-of-b-0123456789").to_hex();
        let err = directory(&format!(
            "[[member]]\nid = \"a\"\nurl = \"http://127.0.0.1:1/bi\"\nnet_id = \"000013\"\n\
             token = \"token-of-b-0123456789\"\n\
             [[member]]\nid = \"b\"\nurl = \"http://127.0.0.1:1/bi\"\nnet_id = \"000014\"\n\
             token_sha256 = \"{digest}\"\n"
        ))
        .expect_err("shared");
        assert_eq!(err.0, vec!["a and b share a token".to_owned()]);
    }
}

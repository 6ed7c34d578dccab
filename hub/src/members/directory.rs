//! Every member, indexed for authentication and routing. Built whole and checked: ids and
//! tokens unique, no JoinEUI served by two members, no NetID + NSID claimed twice, and
//! members sharing a NetID without NSIDs told apart by non-overlapping DevAddr pools.

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

/// The members, indexed.
#[derive(Debug, Default)]
pub struct Directory {
    members: Vec<Member>,
    tokens: TokenTable<usize>,
    by_id: HashMap<MemberId, usize>,
    by_net_id: HashMap<NetId, Vec<usize>>,
}

impl Directory {
    /// Indexes `loaded`, or names every conflict.
    pub fn new(loaded: Vec<LoadedMember>) -> Result<Self, DirectoryError> {
        let mut problems = Vec::new();
        let mut by_id = HashMap::new();
        let mut by_net_id: HashMap<NetId, Vec<usize>> = HashMap::new();
        for (index, entry) in loaded.iter().enumerate() {
            let member = &entry.member;
            if by_id.insert(member.id.clone(), index).is_some() {
                problems.push(format!("id {} is used twice", member.id));
            }
            if let Some(net_id) = member.net_id {
                by_net_id.entry(net_id).or_default().push(index);
            }
            for other in &loaded[..index] {
                if other.token == entry.token {
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
        let tokens = TokenTable::new(
            loaded
                .iter()
                .enumerate()
                .map(|(index, entry)| (entry.token.as_str(), index)),
        );
        Ok(Self {
            members: loaded.into_iter().map(|entry| entry.member).collect(),
            tokens,
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

//! Who may see what through the admin API: a hub administrator everything, an operator of
//! some members (`[[operators]] members = […]`) only what concerns them. Operators of a
//! federation compete; each sees its own records without its competitors'.
//!
//! Pure: the admin API asks it before answering, and the stores take it into their queries
//! ([`crate::udr::UdrFilter::access`], [`crate::audit::AuditFilter::access`]), so a page is
//! cut from what the operator may see, never filtered after the limit.

use std::collections::BTreeSet;

use crate::members::MemberId;

/// What an operator of the admin API may see and change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Access {
    /// A hub administrator: every member, record and policy; the only one that creates
    /// members, edits policies and reloads.
    #[default]
    Hub,
    /// An operator of these members: their members, records and policies only.
    Members(BTreeSet<MemberId>),
}

impl Access {
    /// The access of an `[[operators]]` entry: its `members`, or the whole hub without them.
    pub fn of(members: Option<&[String]>) -> Self {
        match members {
            None => Self::Hub,
            Some(ids) => Self::Members(ids.iter().map(|id| MemberId(id.clone())).collect()),
        }
    }

    /// Whether this is a hub administrator.
    pub fn is_hub(&self) -> bool {
        matches!(self, Self::Hub)
    }

    /// The members this access is limited to; `None` for a hub administrator.
    pub fn members(&self) -> Option<&BTreeSet<MemberId>> {
        match self {
            Self::Hub => None,
            Self::Members(ids) => Some(ids),
        }
    }

    /// Whether `member` (its data, its entry) may be seen.
    pub fn can_see(&self, member: &MemberId) -> bool {
        match self {
            Self::Hub => true,
            Self::Members(ids) => ids.contains(member),
        }
    }

    /// Whether something with these parties (a UDR's sender and receiver, an agreement's
    /// members, an activation rule's NS and JS) may be seen: one of them must be visible.
    /// Wildcards (`*`) name nobody.
    pub fn can_see_any<'a>(&self, parties: impl IntoIterator<Item = &'a str>) -> bool {
        match self {
            Self::Hub => true,
            Self::Members(ids) => parties
                .into_iter()
                .any(|party| ids.iter().any(|id| id.0 == party)),
        }
    }

    /// The members, comma-separated, for messages (`*` for a hub administrator).
    pub fn describe(&self) -> String {
        match self {
            Self::Hub => "*".into(),
            Self::Members(ids) => ids
                .iter()
                .map(|id| id.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Access;

    #[test]
    fn a_scoped_operator_sees_its_members_and_what_names_them() {
        let scoped = Access::of(Some(&["ns-a".to_owned(), "js-a".to_owned()]));
        assert!(scoped.can_see(&"ns-a".into()) && !scoped.can_see(&"ns-b".into()));
        assert!(scoped.can_see_any(["ns-b", "js-a"]));
        assert!(
            !scoped.can_see_any(["ns-b", "*"]),
            "a wildcard names nobody"
        );
        assert!(!scoped.is_hub());
        assert_eq!(scoped.describe(), "js-a, ns-a");
        let nobody = Access::of(Some(&[]));
        assert!(!nobody.can_see(&"ns-a".into()) && !nobody.can_see_any(["*"]));
        let hub = Access::of(None);
        assert!(hub.is_hub() && hub.can_see(&"anyone".into()) && hub.members().is_none());
    }
}

//! `/api/…`: the hub's admin REST API (JSON, CSV for exports), described by the OpenAPI 3.1
//! document it serves at `GET /api/openapi.json` (`openapi.json` beside this file).
//!
//! Every route but the document wants an operator's bearer token (`[[operators]]` in the
//! config; members' tokens open `/bi` only). An operator with `members` sees only what
//! concerns them ([`Access`]): other members are absent, records and audit entries are cut
//! by the stores' queries, naming another member is 403; creating members, editing
//! policies and reloading are for hub administrators ([`HubAdmin`]) alone. The pipeline:
//! authenticate ([`Operator`], before the body is read) → read the path, query and body
//! with the shared extractors of
//! [`service::rest`] (a malformed request is a JSON `400 invalid_request` naming the field)
//! → ask the logic ([`crate::policy`], [`crate::udr`], the [`Relay`]'s members and policies)
//! → answer. Every failure is an [`ApiError`], turned into a response in one place.
//!
//! Who is calling is decided in `admin/operator.rs`; how errors are answered, in
//! `admin/error.rs`.
//!
//! [`ROUTES`] lists the served (method, path) pairs: the router is built from it and the
//! tests check it against the OpenAPI document both ways.

mod error;
mod operator;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{Json, Router};
use backend::header::MessageType;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use service::auth::TokenTable;
use service::rest::{field_named_in, JsonBody, QueryParams, RestRejection};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::access::Access;
use crate::audit::{AuditEntry, AuditFilter, AuditStore};
use crate::config::OperatorConfig;
use crate::members::edit::{MemberEdit, MemberEditError, MemberFiles};
use crate::members::file::MemberEntry;
use crate::members::{Directory, Member, MemberId};
use crate::owned_file::Applied;
use crate::policy::edit::{self, Edit};
use crate::policy::{ActivationEntry, AgreementEntry, Decision, Explanation, Link, PolicySet};
use crate::relay::Relay;
use crate::routing;
use crate::udr::{export, UdrFilter, UdrId, UdrStore};

pub use error::ApiError;
pub use operator::{HubAdmin, Operator};

/// `GET`: every member.
pub const MEMBERS: &str = "/api/members";
/// `GET`: one member; `PUT`, `DELETE`: a member kept by the API.
pub const MEMBER: &str = "/api/members/{id}";
/// `POST`: load the members files again (as SIGHUP does).
pub const MEMBERS_RELOAD: &str = "/api/members/reload";
/// `GET`: the policies in force.
pub const POLICIES: &str = "/api/policies";
/// `PUT`, `DELETE`: an agreement kept by the API.
pub const AGREEMENT: &str = "/api/policies/agreements/{id}";
/// `PUT`, `DELETE`: an activation rule kept by the API.
pub const ACTIVATION: &str = "/api/policies/activations/{id}";
/// `POST`: load the policy directory again (as SIGHUP does).
pub const RELOAD: &str = "/api/policies/reload";
/// `POST`: which rule allows or refuses a message, and why.
pub const EXPLAIN: &str = "/api/policies/explain";
/// `GET`: usage data records, JSON or CSV.
pub const UDRS: &str = "/api/udrs";
/// `GET`: daily aggregates of usage data records, JSON or CSV.
pub const UDRS_DAILY: &str = "/api/udrs/daily";
/// `GET`: the audit log of refused messages, newest first.
pub const AUDIT: &str = "/api/audit";
/// `GET`: the OpenAPI document (no authentication).
pub const OPENAPI: &str = "/api/openapi.json";

/// Every admin route as (HTTP method, path in OpenAPI syntax). The router serves exactly
/// these; the tests check that the OpenAPI document describes exactly these.
pub const ROUTES: [(&str, &str); 16] = [
    ("GET", MEMBERS),
    ("GET", MEMBER),
    ("PUT", MEMBER),
    ("DELETE", MEMBER),
    ("POST", MEMBERS_RELOAD),
    ("GET", POLICIES),
    ("PUT", AGREEMENT),
    ("DELETE", AGREEMENT),
    ("PUT", ACTIVATION),
    ("DELETE", ACTIVATION),
    ("POST", RELOAD),
    ("POST", EXPLAIN),
    ("GET", UDRS),
    ("GET", UDRS_DAILY),
    ("GET", AUDIT),
    ("GET", OPENAPI),
];

/// The OpenAPI 3.1 document of this API.
pub const OPENAPI_DOCUMENT: &str = include_str!("openapi.json");

/// Records per page when `limit` is not given, and the most a JSON page may hold.
const DEFAULT_PAGE: u32 = 1_000;
const MAX_PAGE: u32 = 10_000;
/// The most records one CSV export may hold: narrow the period for more.
const MAX_CSV_RECORDS: usize = 1_000_000;
/// The period of a query without `from`: the last day.
const DEFAULT_PERIOD: time::Duration = time::Duration::days(1);

/// What the admin API works on.
pub struct Admin {
    relay: Arc<Relay>,
    udrs: UdrStore,
    audit: AuditStore,
    operators: TokenTable<Operator>,
    member_files: MemberFiles,
    policy_dir: Option<PathBuf>,
    /// One edit or reload at a time: each reads files, then swaps what is in force.
    changes: tokio::sync::Mutex<()>,
}

impl Admin {
    /// The admin API over `relay` (members, policies in force), the stores of `pool` (UDRs,
    /// audit log) and the policy directory, for `operators` (checked by
    /// [`crate::Config::check_operators`]; an entry without a usable token is left out).
    pub fn new(
        relay: Arc<Relay>,
        pool: sqlx::AnyPool,
        operators: &[OperatorConfig],
        member_files: MemberFiles,
        policy_dir: Option<PathBuf>,
    ) -> Self {
        let operators = TokenTable::from_digests(operators.iter().filter_map(|o| {
            let operator = Operator {
                name: o.name.clone(),
                access: o.access(),
            };
            Some((o.credentials().digest().ok()?, operator))
        }));
        Self {
            udrs: UdrStore::flushing(pool.clone(), relay.udr_writer()),
            relay,
            audit: AuditStore::new(pool),
            operators,
            member_files,
            policy_dir,
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether the hub has a policy directory (else there is nothing to reload).
    pub fn has_policy_dir(&self) -> bool {
        self.policy_dir.is_some()
    }

    /// Loads the members files again and puts them in force (the SIGHUP path too): how many
    /// members. Bad files change nothing.
    pub async fn reload_members(&self) -> Result<usize, ApiError> {
        let files = self.member_files.clone();
        let _one_at_a_time = self.changes.lock().await;
        let directory = blocking(move || files.load())
            .await?
            .map_err(|problems| ApiError::Members(MemberEditError::Invalid(problems)))?;
        let count = directory.members().len();
        self.relay.replace_directory(directory);
        Ok(count)
    }

    /// Loads the policy directory again and puts it in force (the SIGHUP path too). A bad
    /// directory changes nothing.
    pub async fn reload_policies(&self) -> Result<Arc<PolicySet>, ApiError> {
        let dir = self.policy_dir()?;
        let _one_at_a_time = self.changes.lock().await;
        let policies = blocking(move || PolicySet::load_dir(&dir))
            .await?
            .map_err(ApiError::InvalidPolicies)?;
        self.relay.replace_policies(policies);
        Ok(self.relay.policies())
    }

    fn policy_dir(&self) -> Result<PathBuf, ApiError> {
        self.policy_dir.clone().ok_or(ApiError::NoPolicyDir)
    }
}

type Shared = Arc<Admin>;

/// The admin routes over `admin`.
pub fn router(admin: Shared) -> Router {
    let mut by_path: Vec<(&str, MethodRouter<Shared>)> = Vec::new();
    for &(method, path) in &ROUTES {
        let handler = endpoint(method, path);
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(handler),
            None => by_path.push((path, handler)),
        }
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
        .with_state(admin)
}

/// The handler of one route of [`ROUTES`]. An entry without an arm answers 405, which the
/// route test catches.
fn endpoint(method: &str, path: &str) -> MethodRouter<Shared> {
    match (method, path) {
        ("GET", MEMBERS) => get(members),
        ("GET", MEMBER) => get(member),
        ("PUT", MEMBER) => put(put_member),
        ("DELETE", MEMBER) => delete(delete_member),
        ("POST", MEMBERS_RELOAD) => post(reload_members),
        ("GET", POLICIES) => get(policies),
        ("PUT", AGREEMENT) => put(put_agreement),
        ("DELETE", AGREEMENT) => delete(delete_agreement),
        ("PUT", ACTIVATION) => put(put_activation),
        ("DELETE", ACTIVATION) => delete(delete_activation),
        ("POST", RELOAD) => post(reload),
        ("POST", EXPLAIN) => post(explain),
        ("GET", UDRS) => get(udrs),
        ("GET", UDRS_DAILY) => get(udrs_daily),
        ("GET", AUDIT) => get(audit),
        ("GET", OPENAPI) => get(openapi),
        _ => MethodRouter::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------

/// A member as the API shows it: everything but its tokens.
#[derive(Debug, Serialize)]
struct MemberView {
    id: String,
    url: String,
    protocol: String,
    mode: &'static str,
    dialect: &'static str,
    notifications: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    net_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nsid: Option<String>,
    dev_addr_pools: Vec<String>,
    join_eui_ranges: Vec<String>,
    as_ids: Vec<String>,
    /// Fingerprints of the client certificates it may present (public, unlike tokens).
    client_cert_sha256: Vec<String>,
}

impl MemberView {
    /// The view of `member`, with what `directory` binds to it.
    fn of(member: &Member, directory: &Directory) -> Self {
        let mut view = Self::from(member);
        view.client_cert_sha256 = directory
            .client_certificates(&member.id)
            .into_iter()
            .map(str::to_owned)
            .collect();
        view
    }
}

impl From<&Member> for MemberView {
    fn from(member: &Member) -> Self {
        Self {
            id: member.id.0.clone(),
            url: member.endpoint.url().to_string(),
            protocol: member.protocol.as_str().to_owned(),
            mode: match member.mode {
                crate::members::Mode::Sync => "sync",
                crate::members::Mode::Async => "async",
            },
            // Members are only ever built from a named dialect.
            dialect: member.dialect.name().unwrap_or("canonical"),
            notifications: member.accepts_notifications,
            net_id: member.net_id.map(|n| n.to_string()),
            nsid: member.nsid.map(|n| n.to_string()),
            dev_addr_pools: member
                .dev_addr_pools
                .iter()
                .map(ToString::to_string)
                .collect(),
            join_eui_ranges: member
                .join_eui_ranges
                .iter()
                .map(|r| format!("{}-{}", r.first, r.last))
                .collect(),
            as_ids: member.as_ids.clone(),
            client_cert_sha256: Vec::new(),
        }
    }
}

/// The members `access` may see, as the API shows them.
fn members_view(directory: &Directory, access: &Access) -> Vec<MemberView> {
    directory
        .members()
        .iter()
        .filter(|m| access.can_see(&m.id))
        .map(|m| MemberView::of(m, directory))
        .collect()
}

async fn members(State(admin): State<Shared>, operator: Operator, query: QueryParams) -> ApiResult {
    query.finish()?;
    let members = members_view(&admin.relay.directory(), &operator.access);
    Ok(Json(json!({ "members": members })).into_response())
}

async fn member(
    State(admin): State<Shared>,
    operator: Operator,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult {
    query.finish()?;
    let directory = admin.relay.directory();
    // Another operator's member is answered as if it did not exist.
    let member = Some(MemberId(id.clone()))
        .filter(|id| operator.access.can_see(id))
        .and_then(|id| directory.get(&id))
        .ok_or(ApiError::UnknownMember(id))?;
    Ok(Json(MemberView::of(member, &directory)).into_response())
}

async fn put_member(
    State(admin): State<Shared>,
    operator: Operator,
    Path(id): Path<String>,
    query: QueryParams,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult {
    query.finish()?;
    operator.may_edit_member(&id)?;
    let entry: MemberEntry = entry_with_id(body, &id)?;
    apply_member_edit(&admin, &operator, MemberEdit::Put(Box::new(entry)), id).await
}

async fn delete_member(
    State(admin): State<Shared>,
    operator: Operator,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult {
    query.finish()?;
    operator.may_edit_member(&id)?;
    apply_member_edit(&admin, &operator, MemberEdit::Remove(id.clone()), id).await
}

async fn apply_member_edit(
    admin: &Admin,
    operator: &Operator,
    edit: MemberEdit,
    id: String,
) -> ApiResult {
    let files = admin.member_files.clone();
    let _one_at_a_time = admin.changes.lock().await;
    // Checked under the lock: no other edit can create the member in between.
    let directory = admin.relay.directory();
    let existing = directory.get(&MemberId(id.clone()));
    if let (MemberEdit::Put(entry), false) = (&edit, operator.access.is_hub()) {
        let Some(existing) = existing else {
            return Err(ApiError::Forbidden(format!(
                "operator {} may not create member {id:?}: only hub administrators create members",
                operator.name
            )));
        };
        // An entry that does not load is refused below with its reasons.
        if let Ok(changed) = entry.as_ref().clone().into_member(files.keyring()) {
            let changes = existing.identity_changes(&changed.member);
            if !changes.is_empty() {
                return Err(ApiError::Forbidden(format!(
                    "operator {} may not change what member {id:?} claims ({}): only hub \
                     administrators do",
                    operator.name,
                    changes.join(", ")
                )));
            }
        }
    }
    let (directory, applied) = blocking(move || files.apply(&edit)).await??;
    admin.relay.replace_directory(directory);
    tracing::info!(operator = operator.name, %id, ?applied, "member edited through the admin API");
    let body = json!({ "applied": applied.as_str(), "table": "member", "id": id });
    Ok((status_of(applied), Json(body)).into_response())
}

async fn reload_members(
    State(admin): State<Shared>,
    HubAdmin(name): HubAdmin,
    query: QueryParams,
) -> ApiResult {
    query.finish()?;
    admin.reload_members().await?;
    tracing::info!(operator = name, "members reloaded through the admin API");
    let members = members_view(&admin.relay.directory(), &Access::Hub);
    Ok(Json(json!({ "members": members })).into_response())
}

fn status_of(applied: Applied) -> StatusCode {
    match applied {
        Applied::Created => StatusCode::CREATED,
        Applied::Replaced | Applied::Removed => StatusCode::OK,
    }
}

// ---------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------

async fn policies(
    State(admin): State<Shared>,
    operator: Operator,
    query: QueryParams,
) -> ApiResult {
    query.finish()?;
    Ok(Json(policies_view(
        &admin,
        &admin.relay.policies(),
        &operator.access,
    ))
    .into_response())
}

/// The policies `access` may see: agreements with one of its members as a party,
/// activation rules naming one as NS or JS. The warnings and the API file's place are the
/// hub's own business: a scoped operator gets none.
fn policies_view(admin: &Admin, policies: &PolicySet, access: &Access) -> Value {
    let mut file = policies.to_file();
    file.agreement
        .retain(|a| access.can_see_any(a.between.iter().map(String::as_str)));
    file.activation
        .retain(|r| access.can_see_any([r.ns.as_str(), r.js.as_str()]));
    let (warnings, api_file) = match access {
        Access::Hub => (
            policies.warnings(),
            admin
                .policy_dir
                .as_ref()
                .map(|d| d.join(edit::API_FILE).display().to_string()),
        ),
        Access::Members(_) => (Vec::new(), None),
    };
    json!({
        "agreement": file.agreement,
        "activation": file.activation,
        "warnings": warnings,
        "api_file": api_file,
    })
}

async fn put_agreement(
    State(admin): State<Shared>,
    _: HubAdmin,
    Path(id): Path<String>,
    query: QueryParams,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult {
    query.finish()?;
    let entry: AgreementEntry = entry_with_id(body, &id)?;
    apply_edit(&admin, Edit::PutAgreement(entry)).await
}

async fn put_activation(
    State(admin): State<Shared>,
    _: HubAdmin,
    Path(id): Path<String>,
    query: QueryParams,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult {
    query.finish()?;
    let entry: ActivationEntry = entry_with_id(body, &id)?;
    apply_edit(&admin, Edit::PutActivation(entry)).await
}

async fn delete_agreement(
    State(admin): State<Shared>,
    _: HubAdmin,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult {
    query.finish()?;
    apply_edit(&admin, Edit::RemoveAgreement(id)).await
}

async fn delete_activation(
    State(admin): State<Shared>,
    _: HubAdmin,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult {
    query.finish()?;
    apply_edit(&admin, Edit::RemoveActivation(id)).await
}

/// The entry of a PUT body, its id taken from the path (a different id in the body is an
/// error: the path names what is written).
fn entry_with_id<T: serde::de::DeserializeOwned>(body: Value, id: &str) -> Result<T, ApiError> {
    let Value::Object(mut fields) = body else {
        return Err(RestRejection::bad_request("body", "must be a JSON object").into());
    };
    match fields.get("id") {
        None => {
            fields.insert("id".into(), id.into());
        }
        Some(Value::String(given)) if given == id => {}
        Some(other) => {
            return Err(RestRejection::bad_request(
                "id",
                format!("{other} differs from the id in the path, {id:?}"),
            )
            .into())
        }
    }
    serde_json::from_value(Value::Object(fields)).map_err(|e| {
        let message = e.to_string();
        RestRejection::bad_request(&field_named_in(&message), message).into()
    })
}

async fn apply_edit(admin: &Admin, edit: Edit) -> ApiResult {
    let dir = admin.policy_dir()?;
    let (table, id) = edit.target();
    let (table, id) = (table.as_str(), id.to_owned());
    let _one_at_a_time = admin.changes.lock().await;
    let (policies, applied) = blocking(move || edit::apply(&dir, &edit)).await??;
    admin.relay.replace_policies(policies);
    tracing::info!(table, %id, ?applied, "policy edited through the admin API");
    let body = json!({ "applied": applied.as_str(), "table": table, "id": id });
    Ok((status_of(applied), Json(body)).into_response())
}

async fn reload(
    State(admin): State<Shared>,
    HubAdmin(name): HubAdmin,
    query: QueryParams,
) -> ApiResult {
    query.finish()?;
    let policies = admin.reload_policies().await?;
    tracing::info!(operator = name, "policies reloaded through the admin API");
    Ok(Json(policies_view(&admin, &policies, &Access::Hub)).into_response())
}

/// `POST /api/policies/explain`: a message to judge.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainBody {
    sender: MemberId,
    receiver: MemberId,
    message_type: String,
    #[serde(default)]
    link: Option<Link>,
    #[serde(default)]
    at: Option<String>,
}

async fn explain(
    State(admin): State<Shared>,
    operator: Operator,
    query: QueryParams,
    JsonBody(body): JsonBody<ExplainBody>,
) -> ApiResult {
    query.finish()?;
    if !operator
        .access
        .can_see_any([body.sender.0.as_str(), body.receiver.0.as_str()])
    {
        return Err(operator.forbidden_to_see(&body.sender, &body.receiver));
    }
    let at = match &body.at {
        Some(text) => parse_time("at", text)?,
        None => OffsetDateTime::now_utc(),
    };
    let message_type = MessageType::parse(&body.message_type);
    let decision: Decision = routing::decide(
        &admin.relay.policies(),
        &message_type,
        &body.sender,
        &body.receiver,
        body.link,
        at,
        Explanation::Full,
    );
    let directory = admin.relay.directory();
    let unknown: Vec<&str> = [&body.sender, &body.receiver]
        .into_iter()
        .filter(|m| directory.get(m).is_none())
        .map(|m| m.0.as_str())
        .collect();
    Ok(Json(json!({
        "sender": body.sender,
        "receiver": body.receiver,
        "message_type": body.message_type,
        "at": at.format(&Rfc3339).unwrap_or_default(),
        "decision": decision,
        "unknown_members": unknown,
    }))
    .into_response())
}

// ---------------------------------------------------------------------------------------
// Usage data records
// ---------------------------------------------------------------------------------------

/// JSON (the default) or CSV, by `format` or else `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn format_of(query: &mut QueryParams, parts_accept: Option<&str>) -> Result<Format, ApiError> {
    match query.take("format").as_deref() {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(RestRejection::bad_request(
            "format",
            format!("{other:?} is not json or csv"),
        )
        .into()),
        None if parts_accept.is_some_and(|a| a.contains("text/csv")) => Ok(Format::Csv),
        None => Ok(Format::Json),
    }
}

/// The filter of `member`, `agreement`, `from`, `until` (RFC 3339; default: the day before
/// `until`, which defaults to now), within what `operator` may see (naming another
/// operator's member is 403).
fn filter_of(
    query: &mut QueryParams,
    limit: u32,
    operator: &Operator,
) -> Result<UdrFilter, ApiError> {
    let until = match query.take("until") {
        Some(text) => parse_time("until", &text)?,
        None => OffsetDateTime::now_utc(),
    };
    let from = match query.take("from") {
        Some(text) => parse_time("from", &text)?,
        None => until - DEFAULT_PERIOD,
    };
    if from > until {
        return Err(RestRejection::bad_request("from", "is after until").into());
    }
    let mut filter = UdrFilter::period(from, until, limit).within(operator.access.clone());
    if let Some(member) = query.take("member") {
        filter = filter.member(operator.visible(MemberId(member))?);
    }
    if let Some(agreement) = query.take("agreement") {
        filter = filter.agreement(agreement);
    }
    Ok(filter)
}

/// `limit`: records per page, 1..=[`MAX_PAGE`], [`DEFAULT_PAGE`] when not given.
fn page_limit(query: &mut QueryParams) -> Result<u32, ApiError> {
    match query.parse::<u32>("limit", "a count")? {
        None => Ok(DEFAULT_PAGE),
        Some(limit) if (1..=MAX_PAGE).contains(&limit) => Ok(limit),
        Some(_) => Err(RestRejection::bad_request("limit", format!("1..={MAX_PAGE}")).into()),
    }
}

fn parse_time(field: &str, text: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        RestRejection::bad_request(field, format!("{text:?} is not an RFC 3339 time: {e}")).into()
    })
}

/// `GET /api/udrs`: JSON pages (`after` = the last id of the previous page), or the whole
/// period as CSV.
async fn udrs(
    State(admin): State<Shared>,
    operator: Operator,
    Accept(accept): Accept,
    mut query: QueryParams,
) -> ApiResult {
    let format = format_of(&mut query, accept.as_deref())?;
    let limit = page_limit(&mut query)?;
    let mut filter = filter_of(&mut query, limit, &operator)?;
    if let Some(after) = query.parse::<i64>("after", "a record id")? {
        filter = filter.after(UdrId(after));
    }
    query.finish()?;
    match format {
        Format::Json => {
            let page = admin.udrs.query(&filter).await?;
            let next = (page.len() == filter.limit as usize)
                .then(|| page.last().and_then(|u| u.id).map(|id| id.0))
                .flatten();
            Ok(Json(json!({ "udrs": page, "next_after": next })).into_response())
        }
        Format::Csv => {
            // The whole period, page by page; `limit` sets the page size only.
            let mut out = String::new();
            export::write_header(&mut out, &export::UDR_COLUMNS);
            let mut written = 0usize;
            loop {
                let page = admin.udrs.query(&filter).await?;
                for udr in &page {
                    export::write_udr_row(&mut out, udr);
                }
                written += page.len();
                if written > MAX_CSV_RECORDS {
                    return Err(ApiError::ExportTooLarge);
                }
                match page.last().and_then(|u| u.id) {
                    Some(last) if page.len() == filter.limit as usize => {
                        filter = filter.after(last);
                    }
                    _ => break,
                }
            }
            Ok(csv(out))
        }
    }
}

/// `GET /api/udrs/daily`: daily aggregates of the period.
async fn udrs_daily(
    State(admin): State<Shared>,
    operator: Operator,
    Accept(accept): Accept,
    mut query: QueryParams,
) -> ApiResult {
    let format = format_of(&mut query, accept.as_deref())?;
    let filter = filter_of(&mut query, MAX_PAGE, &operator)?;
    query.finish()?;
    let aggregates = admin.udrs.daily_aggregates(&filter).await?;
    Ok(match format {
        Format::Json => Json(json!({ "days": aggregates })).into_response(),
        Format::Csv => csv(export::aggregates_to_csv(&aggregates)),
    })
}

// ---------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------

/// `GET /api/audit`: refused messages, newest first; `next_before` pages on.
async fn audit(
    State(admin): State<Shared>,
    operator: Operator,
    mut query: QueryParams,
) -> ApiResult {
    let limit = page_limit(&mut query)?;
    let filter = AuditFilter {
        member: query
            .take("member")
            .map(|id| operator.visible(MemberId(id)))
            .transpose()?,
        from: query
            .take("from")
            .map(|t| parse_time("from", &t))
            .transpose()?,
        until: query
            .take("until")
            .map(|t| parse_time("until", &t))
            .transpose()?,
        result_code: query.take("result_code"),
        before_id: query.parse::<i64>("before", "an entry id")?,
        limit,
        access: operator.access.clone(),
    };
    query.finish()?;
    let entries = admin.audit.query(&filter).await?;
    let next = (entries.len() == filter.limit as usize)
        .then(|| entries.last().and_then(|e| e.id))
        .flatten();
    let entries: Vec<Value> = entries.iter().map(audit_view).collect();
    Ok(Json(json!({ "entries": entries, "next_before": next })).into_response())
}

fn audit_view(entry: &AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "at": entry.at.format(&Rfc3339).unwrap_or_default(),
        "remote_addr": entry.remote_addr.map(|a| a.to_string()),
        "member": entry.member,
        "message_type": entry.message_type,
        "transaction_id": entry.transaction_id,
        "sender_id": entry.sender_id,
        "receiver_id": entry.receiver_id,
        "result_code": entry.result_code,
        "reason": entry.reason.as_str(),
        "description": entry.description,
    })
}

fn csv(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

async fn openapi() -> Response {
    service::rest::json_document(OPENAPI_DOCUMENT)
}

// ---------------------------------------------------------------------------------------
// Extractors
// ---------------------------------------------------------------------------------------

/// The `Accept` header, if readable.
struct Accept(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Accept {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self(
            parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase),
        ))
    }
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Unavailable(format!("policy task failed: {e}")))
}

// ---------------------------------------------------------------------------------------
// Errors: mapped to HTTP in `error`, once
// ---------------------------------------------------------------------------------------

type ApiResult = Result<Response, ApiError>;

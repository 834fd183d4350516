//! The CRM's public shapes (JSON API and pages).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Person,
    Company,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Person => "person",
            ClientKind::Company => "company",
        }
    }

    pub fn parse(s: &str) -> Option<ClientKind> {
        match s {
            "person" => Some(ClientKind::Person),
            "company" => Some(ClientKind::Company),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UserRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub value: String,
    pub normalized: String,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub id: String,
    pub kind: ClientKind,
    pub name: String,
    pub company: Option<String>,
    pub status: String,
    pub source: Option<String>,
    pub address: Option<String>,
    pub owner: Option<UserRef>,
    pub team: Option<UserRef>,
    pub tags: Vec<String>,
    pub phones: Vec<Contact>,
    pub emails: Vec<Contact>,
    /// A phone or email matched an existing client at creation.
    pub possible_duplicate: bool,
    /// The matched client, shown only when the reader's scope covers it: the id of
    /// a colleague's client is nobody else's business.
    pub duplicate_of: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientSummary {
    pub id: String,
    pub kind: ClientKind,
    pub name: String,
    pub company: Option<String>,
    pub status: String,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub possible_duplicate: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// The first phone and email, partly masked: lists never carry full contacts
    /// (revealing one is its own audited request; `access::mask`).
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A contact as given: a plain string, or `{ "value": …, "label": … }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ContactInput {
    Plain(String),
    Labelled {
        value: String,
        #[serde(default)]
        label: Option<String>,
    },
}

impl ContactInput {
    pub fn value(&self) -> &str {
        match self {
            ContactInput::Plain(v) | ContactInput::Labelled { value: v, .. } => v,
        }
    }

    pub fn label(&self) -> Option<&str> {
        match self {
            ContactInput::Plain(_) => None,
            ContactInput::Labelled { label, .. } => label.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    #[serde(default)]
    pub kind: Option<ClientKind>,
    pub name: String,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub phones: Vec<ContactInput>,
    #[serde(default)]
    pub emails: Vec<ContactInput>,
    /// Defaults to the caller; another owner needs a scope that covers them.
    #[serde(default)]
    pub owner_id: Option<String>,
}

/// `null` clears a field, an absent field leaves it as it is.
fn some_of<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    #[serde(default)]
    pub kind: Option<ClientKind>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "some_of")]
    pub company: Option<Option<String>>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "some_of")]
    pub source: Option<Option<String>>,
    #[serde(default, deserialize_with = "some_of")]
    pub address: Option<Option<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub phones: Option<Vec<ContactInput>>,
    #[serde(default)]
    pub emails: Option<Vec<ContactInput>>,
    #[serde(default)]
    pub owner_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// Words matched against name, company, phones and emails (prefixes count).
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
    /// Only clients flagged as possible duplicates.
    #[serde(default)]
    pub duplicates: Option<bool>,
    /// Deleted clients instead of live ones (owners restore from here).
    #[serde(default)]
    pub deleted: Option<bool>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

pub const DEFAULT_PAGE: u32 = 25;
pub const MAX_PAGE: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TimelineInput {
    Call {
        direction: Direction,
        #[serde(default)]
        duration_secs: Option<u32>,
        #[serde(default)]
        outcome: Option<String>,
        #[serde(default)]
        recording_url: Option<String>,
        #[serde(default)]
        body: Option<String>,
        #[serde(default)]
        occurred_at: Option<DateTime<Utc>>,
    },
    Email {
        #[serde(default)]
        direction: Option<Direction>,
        subject: String,
        #[serde(default)]
        body: Option<String>,
        #[serde(default)]
        occurred_at: Option<DateTime<Utc>>,
    },
    Meeting {
        subject: String,
        #[serde(default)]
        body: Option<String>,
        #[serde(default)]
        occurred_at: Option<DateTime<Utc>>,
    },
    Note {
        body: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub id: String,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub author: Option<UserRef>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub call_direction: Option<String>,
    pub call_duration_secs: Option<i32>,
    pub call_outcome: Option<String>,
    pub recording_url: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub code: String,
    pub label: String,
    pub position: i32,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deal {
    pub id: String,
    pub title: String,
    /// Exact decimal, as a string.
    pub amount: rust_decimal::Decimal,
    pub currency: String,
    pub stage: String,
    pub expected_close: Option<chrono::NaiveDate>,
}

/// Everything a card shows.
#[derive(Debug, Clone, Serialize)]
pub struct ClientCard {
    pub client: Client,
    pub timeline: Page<TimelineEntry>,
    pub deals: Vec<Deal>,
}

/// Result of creating a client: the new card and whether it looked like a duplicate.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub client: Client,
    pub duplicate: bool,
    /// The matched client's id, for the audit log only (the reader may not see it).
    #[serde(skip)]
    pub matched: Option<String>,
}

/// What changed, for the audit log: field names and, for status/owner, values.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Changes {
    pub fields: Vec<&'static str>,
    pub status: Option<(String, String)>,
    pub owner: Option<(Option<String>, Option<String>)>,
    /// Old and new values of the personal fields. The audit layer keeps or
    /// hashes them as configured; they never reach the log unprocessed.
    #[serde(skip)]
    pub personal: Vec<ValueChange>,
}

#[derive(Debug, Clone)]
pub struct ValueChange {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

//! `holdfast demo`: realistic demo data, for trying Holdfast out and for the
//! benchmark.
//!
//! Two teams ("north" and "south"), each with a manager and three sales staff, and
//! an IT admin (no owner: the first owner comes from `holdfast init`). Clients are
//! people and companies whose names are written the way the product's users write
//! them: Georgian, Uzbek and Azerbaijani Latin, Russian Cyrillic, Arabic, and
//! Latin with diacritics. Each has one or two phones (+995, +998, +994, +7, +971,
//! typed in the usual local styles, stored normalised), often an email, tags, a
//! status, a source, an address, a timeline and, for a share of them, deals.
//!
//! Content comes from a small seeded generator (same seed, same people, phones and
//! texts); ids are random UUIDs like everywhere else, and times are spread over the
//! three years before now. Emails use reserved `example` domains and recordings an
//! `example.com` host, so demo data never reaches a real mailbox.
//!
//! Speed: a second thread generates batches of `BATCH` clients while this one
//! writes them with multi-row inserts on the concrete connection, `TX_CLIENTS`
//! clients per transaction (random UUID keys touch most index pages in every
//! transaction, so fewer, larger transactions write far less). A million clients
//! take about six minutes on SQLite on a small machine (see BENCHMARKS.md). Load
//! into a database no busy server is writing to: each transaction holds the write
//! lock for seconds.

use std::fmt::Write as _;
use std::sync::mpsc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use secrecy::SecretString;

use crate::audit::{self, Event, Outcome, RequestMeta, Who};
use crate::clock::{EntropyError, Env};
use crate::crm::{CrmError, contact, search};
use crate::identity::users::{self, NewUser};
use crate::identity::{IdentityError, Role, password};
use crate::store::schema::{
    client_contacts, client_statuses, client_tags, clients, deal_stage_changes, deals,
    invoice_lines, invoice_sequences, invoices, payments, projects, timeline_entries,
};
use crate::store::{DbConn, Store, StoreError, write_tx};

#[derive(Debug, thiserror::Error)]
#[error("demo: {0}")]
pub struct DemoError(String);

impl DemoError {
    fn new(message: impl Into<String>) -> Self {
        DemoError(message.into())
    }
}

impl From<StoreError> for DemoError {
    fn from(e: StoreError) -> Self {
        DemoError(e.to_string())
    }
}

impl From<diesel::result::Error> for DemoError {
    fn from(e: diesel::result::Error) -> Self {
        DemoError(format!("database error: {e}"))
    }
}

impl From<IdentityError> for DemoError {
    fn from(e: IdentityError) -> Self {
        DemoError(e.to_string())
    }
}

impl From<CrmError> for DemoError {
    fn from(e: CrmError) -> Self {
        DemoError(e.to_string())
    }
}

impl From<EntropyError> for DemoError {
    fn from(e: EntropyError) -> Self {
        DemoError(e.to_string())
    }
}

/// Clients generated in one batch (what the generator hands to the writer).
const BATCH: usize = 5_000;
/// Clients per write transaction.
const TX_CLIENTS: usize = 50_000;
/// Bound parameters per multi-row INSERT (SQLite allows 32 766, PostgreSQL 65 535).
const MAX_BINDS: usize = 30_000;
/// Runs this large report progress on standard error.
const PROGRESS_FROM: usize = 20_000;
/// SQLite page cache while loading, in KiB: about 1 KiB per client, from 64 MiB to
/// 1 GiB (a million clients load in six minutes instead of nine with 256 MiB). The
/// cache fills only as far as the load needs it.
fn load_cache_kib(clients: usize) -> i64 {
    i64::try_from(clients)
        .unwrap_or(i64::MAX)
        .clamp(64 * 1024, 1024 * 1024)
}
/// Client times are spread over this many days before now.
const HISTORY_DAYS: i64 = 3 * 365;

// ---------------------------------------------------------------------------
// Staff
// ---------------------------------------------------------------------------

struct StaffSpec {
    username: &'static str,
    display_name: &'static str,
    role: Role,
    team: Option<&'static str>,
    /// Relative share of the clients this user owns.
    share: u32,
}

const STAFF: &[StaffSpec] = &[
    StaffSpec {
        username: "manager.north",
        display_name: "Nino Beridze",
        role: Role::Manager,
        team: Some("north"),
        share: 8,
    },
    StaffSpec {
        username: "sales.north.1",
        display_name: "Levan Tsiklauri",
        role: Role::Sales,
        team: Some("north"),
        share: 14,
    },
    StaffSpec {
        username: "sales.north.2",
        display_name: "Dilnoza Karimova",
        role: Role::Sales,
        team: Some("north"),
        share: 14,
    },
    StaffSpec {
        username: "sales.north.3",
        display_name: "Дмитрий Соколов",
        role: Role::Sales,
        team: Some("north"),
        share: 14,
    },
    StaffSpec {
        username: "manager.south",
        display_name: "Rəşad Məmmədov",
        role: Role::Manager,
        team: Some("south"),
        share: 8,
    },
    StaffSpec {
        username: "sales.south.1",
        display_name: "Leyla Həsənova",
        role: Role::Sales,
        team: Some("south"),
        share: 14,
    },
    StaffSpec {
        username: "sales.south.2",
        display_name: "Oʻktam Yusupov",
        role: Role::Sales,
        team: Some("south"),
        share: 14,
    },
    StaffSpec {
        username: "sales.south.3",
        display_name: "Fatima Al Mansouri",
        role: Role::Sales,
        team: Some("south"),
        share: 14,
    },
    StaffSpec {
        username: "it.admin",
        display_name: "Tamar Gelashvili",
        role: Role::Admin,
        team: None,
        share: 0,
    },
];

/// A user who owns demo clients.
#[derive(Debug, Clone)]
struct Owner {
    id: String,
    team_id: Option<String>,
    share: u32,
}

struct StaffOutcome {
    owners: Vec<Owner>,
    created: Vec<(String, String)>, // (id, "username (role, team)")
    kept: Vec<String>,
}

fn describe(spec: &StaffSpec) -> String {
    match spec.team {
        Some(t) => format!("{} ({}, {t})", spec.username, spec.role),
        None => format!("{} ({})", spec.username, spec.role),
    }
}

/// Creates the demo staff; users that already exist with the same role and team are
/// kept as they are (passwords unchanged), so a second run does not fail.
fn ensure_staff(
    conn: &mut DbConn,
    env: &Env,
    password: &SecretString,
) -> Result<StaffOutcome, DemoError> {
    // Every conflict is found before anything is written.
    let mut existing = Vec::with_capacity(STAFF.len());
    for spec in STAFF {
        let user = match users::find_by_username(conn, spec.username)? {
            Some(row) => Some(users::get(conn, &row.id)?),
            None => None,
        };
        if let Some(user) = &user
            && (user.role != spec.role || user.team.as_deref() != spec.team)
        {
            return Err(DemoError::new(format!(
                "user `{}` already exists as {}{}, but the demo needs {}: \
                 load the demo into a fresh database, or rename that user",
                spec.username,
                user.role,
                user.team
                    .as_deref()
                    .map(|t| format!(" in team {t}"))
                    .unwrap_or_default(),
                describe(spec),
            )));
        }
        existing.push(user);
    }
    let can_own = STAFF
        .iter()
        .zip(&existing)
        .any(|(spec, user)| spec.share > 0 && !user.as_ref().is_some_and(|u| u.disabled));
    if !can_own {
        return Err(DemoError::new(
            "every demo sales user is disabled; nobody can own the demo clients",
        ));
    }

    let mut out = StaffOutcome {
        owners: Vec::new(),
        created: Vec::new(),
        kept: Vec::new(),
    };
    for (spec, user) in STAFF.iter().zip(existing) {
        let user = match user {
            Some(user) => {
                out.kept.push(describe(spec));
                user
            }
            None => {
                let user = users::add(
                    conn,
                    env,
                    NewUser {
                        username: spec.username.to_string(),
                        display_name: Some(spec.display_name.to_string()),
                        role: spec.role,
                        team: spec.team.map(str::to_string),
                        password: Some(password.clone()),
                    },
                )?;
                out.created.push((user.id.clone(), describe(spec)));
                user
            }
        };
        if spec.share > 0 && !user.disabled {
            out.owners.push(Owner {
                id: user.id,
                team_id: user.team_id,
                share: spec.share,
            });
        }
    }
    Ok(out)
}

/// Active statuses with how often demo clients have them.
fn status_weights(conn: &mut DbConn) -> Result<Vec<(String, u32)>, DemoError> {
    let codes: Vec<String> = client_statuses::table
        .filter(client_statuses::active.eq(true))
        .order(client_statuses::position)
        .select(client_statuses::code)
        .load(conn)?;
    let weighted: Vec<(String, u32)> = codes
        .into_iter()
        .map(|code| {
            let w = match code.as_str() {
                "new" => 14,
                "cold" => 22,
                "warm" => 20,
                "hot" => 9,
                "regular" => 20,
                "vip" => 4,
                "lost" => 11,
                _ => 3,
            };
            (code, w)
        })
        .collect();
    if weighted.is_empty() {
        return Err(DemoError::new("the status list has no active status"));
    }
    Ok(weighted)
}

// ---------------------------------------------------------------------------
// The seeded generator
// ---------------------------------------------------------------------------

/// splitmix64: tiny, fast, and good enough for demo data (not for secrets).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut roll = self.below(total);
        for (item, w) in items {
            if roll < u64::from(*w) {
                return item;
            }
            roll -= u64::from(*w);
        }
        &items[items.len() - 1].0
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// Where a phone number is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Country {
    Georgia,
    Uzbekistan,
    Azerbaijan,
    Russia,
    Emirates,
}

impl Country {
    pub const ALL: [Country; 5] = [
        Country::Georgia,
        Country::Uzbekistan,
        Country::Azerbaijan,
        Country::Russia,
        Country::Emirates,
    ];

    fn calling_code(self) -> &'static str {
        match self {
            Country::Georgia => "995",
            Country::Uzbekistan => "998",
            Country::Azerbaijan => "994",
            Country::Russia => "7",
            Country::Emirates => "971",
        }
    }
}

/// Splits `digits` into groups of the given sizes, joined by `sep`.
fn groups(digits: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = String::with_capacity(digits.len() + sizes.len() * sep.len());
    let mut at = 0;
    for (i, size) in sizes.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&digits[at..(at + size).min(digits.len())]);
        at += size;
    }
    out
}

/// A mobile number as a person would type it, and its E.164 form.
pub fn phone(rng: &mut Rng, country: Country) -> (String, String) {
    let national = match country {
        Country::Georgia => {
            let p = rng.pick(&[
                "555", "557", "558", "568", "571", "574", "577", "591", "593", "595", "597", "598",
                "599",
            ]);
            format!("{p}{}", rng.digits(6))
        }
        Country::Uzbekistan => {
            let p = rng.pick(&["90", "91", "93", "94", "95", "97", "98", "99", "33", "88"]);
            format!("{p}{}", rng.digits(7))
        }
        Country::Azerbaijan => {
            let p = rng.pick(&["50", "51", "55", "70", "77", "99", "10"]);
            format!("{p}{}", rng.digits(7))
        }
        Country::Russia => {
            let p = rng.pick(&[
                "903", "905", "906", "909", "910", "915", "916", "917", "919", "925", "926", "929",
                "950", "960", "962", "965", "977", "985", "999",
            ]);
            format!("{p}{}", rng.digits(7))
        }
        Country::Emirates => {
            let p = rng.pick(&["50", "52", "54", "55", "56", "58"]);
            format!("{p}{}", rng.digits(7))
        }
    };
    let cc = country.calling_code();
    let style = rng.below(4);
    let typed = match (country, style) {
        (_, 0) => format!("+{cc}{national}"),
        (Country::Georgia, 1) => format!("+{cc} {}", groups(&national, &[3, 2, 2, 2], " ")),
        (Country::Georgia, 2) => format!("00{cc} {}", groups(&national, &[3, 3, 3], " ")),
        (Country::Georgia, _) => format!("+{cc}-{}", groups(&national, &[3, 3, 3], "-")),
        (Country::Uzbekistan | Country::Azerbaijan, 1) => {
            format!("+{cc} {}", groups(&national, &[2, 3, 2, 2], " "))
        }
        (Country::Uzbekistan | Country::Azerbaijan, 2) => format!(
            "+{cc} ({}) {}",
            &national[..2],
            groups(&national[2..], &[3, 2, 2], "-")
        ),
        (Country::Uzbekistan | Country::Azerbaijan, _) => {
            format!("00{cc} {}", groups(&national, &[2, 3, 4], " "))
        }
        (Country::Russia, 1) => format!(
            "+7 ({}) {}",
            &national[..3],
            groups(&national[3..], &[3, 2, 2], "-")
        ),
        (Country::Russia, 2) => format!("+7 {}", groups(&national, &[3, 3, 2, 2], " ")),
        (Country::Russia, _) => format!("+7-{}", groups(&national, &[3, 3, 2, 2], "-")),
        (Country::Emirates, 1) => format!("+{cc} {}", groups(&national, &[2, 3, 4], " ")),
        (Country::Emirates, 2) => format!("00{cc} {}", groups(&national, &[2, 3, 4], " ")),
        (Country::Emirates, _) => format!("+{cc}-{}", groups(&national, &[2, 3, 4], "-")),
    };
    (typed, format!("+{cc}{national}"))
}

type Pair = (&'static str, &'static str); // (as written, ASCII for emails)

/// How a culture's names, companies and addresses look.
pub struct Culture {
    pub key: &'static str,
    weight: u32,
    male: &'static [Pair],
    female: &'static [Pair],
    /// Masculine (or neutral) forms.
    surnames: &'static [Pair],
    /// Added to a surname for a woman: (script, ASCII).
    feminine: Option<Pair>,
    companies: &'static [Pair],
    /// `{n}` is replaced by a house number, `{f}` by a flat or office number.
    addresses: &'static [&'static str],
    home: Country,
    domains: &'static [&'static str],
    currency: (&'static str, i64, i64), // code, smallest and largest deal (whole units)
}

pub const CULTURES: &[Culture] = &[
    Culture {
        key: "georgian",
        weight: 22,
        male: &[
            ("გიორგი", "giorgi"),
            ("ლევანი", "levan"),
            ("დავითი", "davit"),
            ("ირაკლი", "irakli"),
            ("ნიკოლოზი", "nikoloz"),
            ("ლაშა", "lasha"),
            ("ზურაბი", "zurab"),
            ("ალექსანდრე", "aleksandre"),
        ],
        female: &[
            ("ნინო", "nino"),
            ("თამარი", "tamar"),
            ("მარიამი", "mariam"),
            ("ანა", "ana"),
            ("ეკატერინე", "ekaterine"),
            ("სალომე", "salome"),
            ("ნათია", "natia"),
            ("ქეთევანი", "ketevan"),
        ],
        surnames: &[
            ("ბერიძე", "beridze"),
            ("კაპანაძე", "kapanadze"),
            ("გელაშვილი", "gelashvili"),
            ("ციკლაური", "tsiklauri"),
            ("მაისურაძე", "maisuradze"),
            ("ლომიძე", "lomidze"),
            ("ჯავახიშვილი", "javakhishvili"),
            ("ხარაიშვილი", "kharaishvili"),
            ("ქავთარაძე", "kavtaradze"),
            ("წერეთელი", "tsereteli"),
        ],
        feminine: None,
        companies: &[
            ("შპს „თბილისი ბილდი“", "tbilisibuild"),
            ("შპს „მთის წყარო“", "mtiswkaro"),
            ("ქართული ღვინის სახლი", "winehouse"),
            ("შპს „ნავთლუღი ტრეიდი“", "navtlughitrade"),
            ("კოლხეთი ლოჯისტიკი", "kolkhetilogistics"),
            ("შპს „ოქროს საწმისი“", "goldenfleece"),
        ],
        addresses: &[
            "თბილისი, ჭავჭავაძის გამზ. {n}, ბინა {f}",
            "თბილისი, რუსთაველის გამზ. {n}",
            "ბათუმი, გორგილაძის ქ. {n}, ოფისი {f}",
            "ქუთაისი, წერეთლის ქ. {n}",
            "Tbilisi, Pekini Ave {n}, apt {f}",
        ],
        home: Country::Georgia,
        domains: &["mail.example", "example.com", "tbilisi.example"],
        currency: ("GEL", 300, 90_000),
    },
    Culture {
        key: "uzbek",
        weight: 18,
        male: &[
            ("Oʻktam", "oktam"),
            ("Gʻulom", "gulom"),
            ("Sherzod", "sherzod"),
            ("Jasur", "jasur"),
            ("Bekzod", "bekzod"),
            ("Oybek", "oybek"),
            ("Shohruh", "shohruh"),
            ("Ulugʻbek", "ulugbek"),
        ],
        female: &[
            ("Gulnora", "gulnora"),
            ("Dilnoza", "dilnoza"),
            ("Shahnoza", "shahnoza"),
            ("Madina", "madina"),
            ("Oʻgʻiloy", "ogiloy"),
            ("Nodira", "nodira"),
            ("Zuhra", "zuhra"),
            ("Feruza", "feruza"),
        ],
        surnames: &[
            ("Karimov", "karimov"),
            ("Yusupov", "yusupov"),
            ("Rahimov", "rahimov"),
            ("Toʻxtayev", "tokhtayev"),
            ("Qodirov", "qodirov"),
            ("Gʻofurov", "gofurov"),
            ("Ergashev", "ergashev"),
            ("Normatov", "normatov"),
            ("Xoʻjayev", "khojayev"),
        ],
        feminine: Some(("a", "a")),
        companies: &[
            ("“Samarqand Savdo” MChJ", "samarqandsavdo"),
            ("Oʻzbekiston Tekstil", "uztekstil"),
            ("“Gʻalaba Qurilish” MChJ", "galabaqurilish"),
            ("Toshkent Agro", "toshkentagro"),
            ("“Buxoro Gilam” XK", "buxorogilam"),
            ("Fargʻona Meva Eksport", "farganameva"),
        ],
        addresses: &[
            "Toshkent sh., Amir Temur koʻchasi {n}-uy, {f}-xonadon",
            "Toshkent sh., Chilonzor tumani, {n}-mavze, {f}-uy",
            "Samarqand sh., Registon koʻchasi {n}",
            "Buxoro sh., Bahouddin Naqshband koʻchasi {n}",
            "Fargʻona sh., Mustaqillik koʻchasi {n}, {f}-ofis",
        ],
        home: Country::Uzbekistan,
        domains: &["inbox.example", "example.com", "tashkent.example"],
        currency: ("UZS", 3_000_000, 900_000_000),
    },
    Culture {
        key: "azerbaijani",
        weight: 18,
        male: &[
            ("Rəşad", "rashad"),
            ("Elçin", "elchin"),
            ("Tural", "tural"),
            ("Şahin", "shahin"),
            ("Orxan", "orkhan"),
            ("Əli", "ali"),
            ("Tofiq", "tofig"),
            ("Ağadadaş", "aghadadash"),
        ],
        female: &[
            ("Leyla", "leyla"),
            ("Günel", "gunel"),
            ("Aygün", "aygun"),
            ("Nərmin", "narmin"),
            ("Şəhla", "shahla"),
            ("Səbinə", "sabina"),
            ("Könül", "konul"),
            ("Fəridə", "farida"),
        ],
        surnames: &[
            ("Məmmədov", "mammadov"),
            ("Həsənov", "hasanov"),
            ("Əliyev", "aliyev"),
            ("Quliyev", "guliyev"),
            ("Hüseynov", "huseynov"),
            ("Cəfərov", "jafarov"),
            ("Bağırov", "bagirov"),
            ("Tağıyev", "tagiyev"),
            ("Rzayev", "rzayev"),
        ],
        feminine: Some(("a", "a")),
        companies: &[
            ("Bakı Tikinti MMC", "bakitikinti"),
            ("Şirvan Aqro MMC", "shirvanagro"),
            ("Gəncə Texnika", "ganjatekhnika"),
            ("Xəzər Logistika MMC", "khazarlogistics"),
            ("Qarabağ Xalça Evi", "garabaghcarpet"),
            ("Şəki İpək", "shekisilk"),
        ],
        addresses: &[
            "Bakı, Nizami küçəsi {n}, mənzil {f}",
            "Bakı, Nəsimi rayonu, Azadlıq prospekti {n}",
            "Gəncə, Cavad xan küçəsi {n}",
            "Sumqayıt, Sülh küçəsi {n}, mənzil {f}",
            "Şəki, M. F. Axundzadə prospekti {n}",
        ],
        home: Country::Azerbaijan,
        domains: &["mail.example", "example.net", "baku.example"],
        currency: ("AZN", 200, 60_000),
    },
    Culture {
        key: "russian",
        weight: 20,
        male: &[
            ("Алексей", "aleksey"),
            ("Дмитрий", "dmitry"),
            ("Сергей", "sergey"),
            ("Иван", "ivan"),
            ("Михаил", "mikhail"),
            ("Андрей", "andrey"),
            ("Никита", "nikita"),
            ("Артём", "artem"),
        ],
        female: &[
            ("Анна", "anna"),
            ("Екатерина", "ekaterina"),
            ("Ольга", "olga"),
            ("Мария", "maria"),
            ("Татьяна", "tatiana"),
            ("Юлия", "yulia"),
            ("Наталья", "natalia"),
            ("Алёна", "alena"),
        ],
        surnames: &[
            ("Иванов", "ivanov"),
            ("Смирнов", "smirnov"),
            ("Кузнецов", "kuznetsov"),
            ("Соколов", "sokolov"),
            ("Попов", "popov"),
            ("Лебедев", "lebedev"),
            ("Новиков", "novikov"),
            ("Морозов", "morozov"),
            ("Волков", "volkov"),
            ("Фёдоров", "fedorov"),
        ],
        feminine: Some(("а", "a")),
        companies: &[
            ("ООО «Северный ветер»", "severveter"),
            ("АО «Промтехснаб»", "promtekhsnab"),
            ("ООО «Вектор»", "vektor"),
            ("ИП Кузнецов А. В.", "ipkuznetsov"),
            ("ООО «Стройинвест»", "stroyinvest"),
            ("ЗАО «Уральские сети»", "uralseti"),
        ],
        addresses: &[
            "г. Москва, ул. Тверская, д. {n}, кв. {f}",
            "г. Санкт-Петербург, Невский пр., д. {n}, офис {f}",
            "г. Казань, ул. Баумана, д. {n}",
            "г. Екатеринбург, ул. Ленина, д. {n}, кв. {f}",
            "г. Новосибирск, Красный пр., д. {n}",
        ],
        home: Country::Russia,
        domains: &["post.example", "example.org", "moscow.example"],
        currency: ("RUB", 15_000, 6_000_000),
    },
    Culture {
        key: "arabic",
        weight: 10,
        male: &[
            ("محمد", "mohammed"),
            ("أحمد", "ahmed"),
            ("خالد", "khaled"),
            ("يوسف", "yousef"),
            ("عمر", "omar"),
            ("سعيد", "saeed"),
        ],
        female: &[
            ("فاطمة", "fatima"),
            ("عائشة", "aisha"),
            ("مريم", "maryam"),
            ("نور", "noor"),
            ("ليلى", "layla"),
            ("سارة", "sara"),
        ],
        surnames: &[
            ("الهاشمي", "alhashimi"),
            ("المنصوري", "almansouri"),
            ("الشامسي", "alshamsi"),
            ("الكعبي", "alkaabi"),
            ("النعيمي", "alnuaimi"),
            ("الزعابي", "alzaabi"),
            ("المهيري", "almheiri"),
        ],
        feminine: None,
        companies: &[
            ("شركة النور للتجارة", "alnoortrading"),
            ("مؤسسة الخليج للمقاولات", "gulfcontracting"),
            ("مجموعة الفجر", "alfajrgroup"),
            ("دار الريان للتجارة العامة", "darrayan"),
            ("Emirates Star Logistics LLC", "emiratesstar"),
        ],
        addresses: &[
            "دبي، شارع الشيخ زايد، برج {n}، مكتب {f}",
            "أبوظبي، شارع الكورنيش، مبنى {n}",
            "الشارقة، شارع الملك فيصل {n}",
            "Dubai, Al Barsha 1, Building {n}, Office {f}",
        ],
        home: Country::Emirates,
        domains: &["example.com", "dubai.example", "mail.example"],
        currency: ("AED", 1_000, 350_000),
    },
    Culture {
        key: "latin",
        weight: 12,
        male: &[
            ("José", "jose"),
            ("François", "francois"),
            ("Jürgen", "juergen"),
            ("Łukasz", "lukasz"),
            ("Søren", "soren"),
            ("Çağrı", "cagri"),
            ("João", "joao"),
            ("Tomáš", "tomas"),
        ],
        female: &[
            ("Zoë", "zoe"),
            ("Agnès", "agnes"),
            ("Małgorzata", "malgorzata"),
            ("Inês", "ines"),
            ("Şebnem", "sebnem"),
            ("Sigríður", "sigridur"),
            ("Renée", "renee"),
            ("Anaïs", "anais"),
        ],
        surnames: &[
            ("Muñoz", "munoz"),
            ("Müller", "mueller"),
            ("Lefèvre", "lefevre"),
            ("Wiśniewski", "wisniewski"),
            ("Øvergård", "overgard"),
            ("Yılmaz", "yilmaz"),
            ("Gonçalves", "goncalves"),
            ("Dvořák", "dvorak"),
            ("Núñez", "nunez"),
            ("Kovačević", "kovacevic"),
        ],
        feminine: None,
        companies: &[
            ("Müller & Söhne GmbH", "muellersoehne"),
            ("Café Société SARL", "cafesociete"),
            ("Łódź Logistyka Sp. z o.o.", "lodzlogistyka"),
            ("Ibérica Soluções Lda.", "ibericasolucoes"),
            ("Øresund Design ApS", "oresunddesign"),
            ("Çelik Yapı A.Ş.", "celikyapi"),
        ],
        addresses: &[
            "Calle de Alcalá {n}, 28014 Madrid",
            "Königstraße {n}, 70173 Stuttgart",
            "ul. Świętokrzyska {n}/{f}, 00-050 Warszawa",
            "Rua Augusta {n}, 1100-048 Lisboa",
            "İstiklal Caddesi {n}, Beyoğlu, İstanbul",
            "Rue de Rivoli {n}, 75004 Paris",
        ],
        home: Country::Russia,
        domains: &["example.org", "europe.example", "example.net"],
        currency: ("EUR", 400, 120_000),
    },
];

/// A generated client before it has ids.
#[derive(Debug, Clone)]
pub struct Person {
    pub culture: &'static str,
    pub company_kind: bool,
    pub name: String,
    pub company: Option<String>,
    /// (as typed, E.164)
    pub phones: Vec<(String, String)>,
    /// As typed (normalisation lower-cases it).
    pub email: Option<String>,
    pub address: Option<String>,
    currency: (&'static str, i64, i64),
}

fn pick_culture(rng: &mut Rng) -> &'static Culture {
    let total: u64 = CULTURES.iter().map(|c| u64::from(c.weight)).sum();
    let mut roll = rng.below(total);
    for c in CULTURES {
        if roll < u64::from(c.weight) {
            return c;
        }
        roll -= u64::from(c.weight);
    }
    &CULTURES[0]
}

fn capitalise_ascii(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// A person or company: name in its script, phones, maybe an email and address.
pub fn person(rng: &mut Rng) -> Person {
    let culture = pick_culture(rng);
    let female = rng.percent(50);
    let (given, given_ascii) = *rng.pick(if female { culture.female } else { culture.male });
    let (surname, surname_ascii) = *rng.pick(culture.surnames);
    let (surname, surname_ascii) = match (female, culture.feminine) {
        (true, Some((s, a))) => (format!("{surname}{s}"), format!("{surname_ascii}{a}")),
        _ => (surname.to_string(), surname_ascii.to_string()),
    };
    let company_kind = rng.percent(18);
    let (company_name, company_slug) = *rng.pick(culture.companies);

    let name = if company_kind {
        company_name.to_string()
    } else {
        match (culture.key, rng.below(10)) {
            // Official order, as on a passport or in 1C exports.
            ("russian", 0..=2) => {
                let patronymic = if female {
                    rng.pick(&["Сергеевна", "Андреевна", "Игоревна", "Викторовна"])
                } else {
                    rng.pick(&["Сергеевич", "Андреевич", "Игоревич", "Викторович"])
                };
                format!("{surname} {given} {patronymic}")
            }
            ("azerbaijani", 0) => {
                let (father, _) = *rng.pick(culture.male);
                let link = if female { "qızı" } else { "oğlu" };
                format!("{surname} {given} {father} {link}")
            }
            ("uzbek" | "georgian", 0..=1) => format!("{surname} {given}"),
            _ => format!("{given} {surname}"),
        }
    };
    let company = (!company_kind && rng.percent(25)).then(|| company_name.to_string());

    let home = if rng.percent(85) {
        culture.home
    } else {
        *rng.pick(&Country::ALL)
    };
    let mut phones = vec![phone(rng, home)];
    if rng.percent(30) {
        let other = if rng.percent(70) {
            home
        } else {
            *rng.pick(&Country::ALL)
        };
        let second = phone(rng, other);
        if second.1 != phones[0].1 {
            phones.push(second);
        }
    }

    let email = rng.percent(if company_kind { 80 } else { 62 }).then(|| {
        if company_kind {
            let local = rng.pick(&["info", "office", "sales", "zakaz", "hello"]);
            format!("{local}@{company_slug}.example")
        } else {
            let domain = rng.pick(culture.domains);
            let local = match rng.below(5) {
                0 => format!("{given_ascii}.{surname_ascii}"),
                1 => format!("{given_ascii}{}", rng.range(1, 99)),
                2 => format!(
                    "{}.{surname_ascii}",
                    given_ascii.chars().next().unwrap_or('x')
                ),
                3 => format!("{surname_ascii}.{given_ascii}{}", rng.range(70, 99)),
                _ => format!("{given_ascii}_{surname_ascii}"),
            };
            if rng.percent(10) {
                // Typed with capitals; normalisation lower-cases it.
                format!(
                    "{}@{}",
                    local
                        .split('.')
                        .map(capitalise_ascii)
                        .collect::<Vec<_>>()
                        .join("."),
                    capitalise_ascii(domain)
                )
            } else {
                format!("{local}@{domain}")
            }
        }
    });

    let address = rng.percent(70).then(|| {
        rng.pick(culture.addresses)
            .replace("{n}", &rng.range(1, 180).to_string())
            .replace("{f}", &rng.range(1, 320).to_string())
    });

    Person {
        culture: culture.key,
        company_kind,
        name,
        company,
        phones,
        email,
        address,
        currency: culture.currency,
    }
}

// ---------------------------------------------------------------------------
// Texts for timelines and deals
// ---------------------------------------------------------------------------

const SOURCES: &[(&str, u32)] = &[
    ("phone call", 24),
    ("web form", 20),
    ("referral", 14),
    ("Instagram", 10),
    ("Telegram", 7),
    ("cold call", 8),
    ("exhibition", 6),
    ("partner", 5),
    ("walk-in", 4),
    ("Google Ads", 2),
];

const TAGS: &[&str] = &[
    "wholesale",
    "retail",
    "b2b",
    "b2c",
    "partner",
    "newsletter",
    "priority",
    "price-sensitive",
    "tender",
    "export",
    "repeat",
    "installment",
    "оптовик",
    "VIP-сервис",
];

const CALL_OUTCOMES: &[(&str, u32)] = &[
    ("answered", 62),
    ("no answer", 18),
    ("busy", 7),
    ("voicemail", 8),
    ("callback requested", 5),
    ("complaint", 2),
];

const CALL_NOTES: &[&str] = &[
    "Interested, asked for the price list.",
    "Discussed delivery terms; wants a discount from 50 units.",
    "Клиент просит перезвонить в понедельник после обеда.",
    "Уточнили реквизиты для счёта, отправим сегодня.",
    "Confirmed the meeting on Thursday at 11:00.",
    "Asked about paying in three instalments.",
    "Жалоба на сроки доставки, передал в логистику.",
    "Wants the proposal in Russian and English.",
    "Qiziqish bildirdi, narxlar roʻyxatini soʻradi.",
    "Müştəri təklifi gözləyir, cümə axşamı yenidən zəng edəcəyik.",
    "ينتظر العرض المالي قبل نهاية الأسبوع.",
    "ფასების სია გავუგზავნე, ხვალ გადავურეკავ.",
    "Happy with the last delivery; may double the order next quarter.",
];

const NOTES: &[&str] = &[
    "Decision maker is the CFO; the director only signs.",
    "Prefers WhatsApp over email. Do not call before 10:00.",
    "Сезонный спрос: закупки в марте и сентябре.",
    "A competitor offered 7% less; we can match on volume only.",
    "Оплата по факту поставки, отсрочка 30 дней.",
    "Met at the Caspian Build exhibition, stand B14.",
    "Needs invoices in Arabic and English.",
    "Budget approved for the third quarter.",
    "Yetkazib berish shartlarini kelishib oldik: 10 kun ichida.",
    "Ödəniş iki hissəyə bölünəcək, müqavilə layihəsi hazırdır.",
    "ხელშეკრულება ხელმოწერილია, წინასწარი გადახდა 30%.",
    "Asked not to receive the newsletter any more.",
    "Key account: send a greeting card for Nowruz.",
];

const MEETINGS: &[(&str, &str)] = &[
    (
        "Product demo at their office",
        "Showed the catalogue; they liked the premium line and want samples.",
    ),
    (
        "Contract negotiation",
        "Agreed on prices; legal will review the payment terms.",
    ),
    (
        "Встреча в офисе клиента",
        "Обсудили объём и график поставок на полгода.",
    ),
    (
        "Site visit",
        "Measured the warehouse; proposal due by Friday.",
    ),
    (
        "Quarterly review",
        "Volumes up 12%; they asked about loyalty pricing.",
    ),
    (
        "Ofisda uchrashuv",
        "Yangi mahsulotlarni koʻrsatdik, namunalar yuboramiz.",
    ),
    (
        "Təqdimat görüşü",
        "Yeni kolleksiyanı təqdim etdik, sifariş gözlənilir.",
    ),
];

const EMAILS: &[(&str, &str)] = &[
    ("Commercial offer", "Please find our offer attached."),
    (
        "Коммерческое предложение",
        "Направляем наше предложение во вложении.",
    ),
    (
        "Invoice",
        "The invoice is attached, payable within 14 days.",
    ),
    (
        "Re: delivery schedule",
        "Confirming delivery on the dates we agreed.",
    ),
    (
        "Meeting follow-up",
        "Thank you for your time today; the summary is below.",
    ),
    ("Price list 2026", "Our updated price list is attached."),
];

const DEAL_TITLES: &[&str] = &[
    "Annual service contract",
    "Equipment supply",
    "Office fit-out",
    "Website and CRM set-up",
    "Consulting, 3 months",
    "Поставка оборудования",
    "Годовое обслуживание",
    "Корпоративное обучение",
    "Wholesale order",
    "Maintenance renewal",
    "Logistics contract",
    "Pilot project",
];

const DEAL_STAGES: &[(&str, u32)] = &[
    ("new", 18),
    ("qualified", 18),
    ("proposal", 20),
    ("negotiation", 14),
    ("won", 18),
    ("lost", 12),
];

// ---------------------------------------------------------------------------
// Rows (multi-row inserts: NULL is written as NULL, not as DEFAULT, so SQLite
// can take a whole chunk in one statement)
// ---------------------------------------------------------------------------

#[derive(Insertable)]
#[diesel(table_name = clients, treat_none_as_default_value = false)]
struct ClientIns {
    id: String,
    kind: &'static str,
    name: String,
    company: Option<String>,
    status: String,
    source: Option<&'static str>,
    address: Option<String>,
    owner_id: Option<String>,
    team_id: Option<String>,
    duplicate_of: Option<String>,
    search_text: String,
    created_by: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    last_contact_at: Option<NaiveDateTime>,
}
const CLIENT_COLS: usize = 15;

#[derive(Insertable)]
#[diesel(table_name = client_contacts, treat_none_as_default_value = false)]
struct ContactIns {
    id: String,
    client_id: String,
    kind: &'static str,
    value: String,
    normalized: String,
    label: Option<&'static str>,
    position: i32,
}
const CONTACT_COLS: usize = 7;

#[derive(Insertable)]
#[diesel(table_name = client_tags)]
struct TagIns {
    client_id: String,
    tag: &'static str,
}
const TAG_COLS: usize = 2;

#[derive(Insertable)]
#[diesel(table_name = timeline_entries, treat_none_as_default_value = false)]
struct TimelineIns {
    id: String,
    client_id: String,
    kind: &'static str,
    occurred_at: NaiveDateTime,
    author_id: Option<String>,
    subject: Option<String>,
    body: Option<&'static str>,
    call_direction: Option<&'static str>,
    call_duration_secs: Option<i32>,
    call_outcome: Option<&'static str>,
    recording_url: Option<String>,
    old_value: Option<String>,
    new_value: Option<String>,
    created_at: NaiveDateTime,
}
const TIMELINE_COLS: usize = 14;

#[derive(Insertable)]
#[diesel(table_name = deals, treat_none_as_default_value = false)]
struct DealIns {
    id: String,
    client_id: String,
    title: &'static str,
    amount_e4: i64,
    currency: &'static str,
    stage: &'static str,
    expected_close: Option<NaiveDate>,
    owner_id: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    lost_reason: Option<&'static str>,
    reached_stage: &'static str,
}
const DEAL_COLS: usize = 12;

#[derive(Insertable)]
#[diesel(table_name = deal_stage_changes, treat_none_as_default_value = false)]
struct StageChangeIns {
    id: String,
    deal_id: String,
    from_stage: Option<&'static str>,
    to_stage: &'static str,
    lost_reason: Option<&'static str>,
    changed_at: NaiveDateTime,
    changed_by: Option<String>,
}
const STAGE_CHANGE_COLS: usize = 7;

#[derive(Insertable)]
#[diesel(table_name = projects, treat_none_as_default_value = false)]
struct ProjectIns {
    id: String,
    client_id: String,
    name: &'static str,
    status: &'static str,
    starts_on: Option<NaiveDate>,
    ends_on: Option<NaiveDate>,
    responsible_id: Option<String>,
    created_by: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}
const PROJECT_COLS: usize = 10;

/// An issued invoice; its number is taken from the sequence by the writer.
#[derive(Insertable)]
#[diesel(table_name = invoices, treat_none_as_default_value = false)]
struct InvoiceIns {
    id: String,
    client_id: String,
    kind: &'static str,
    number: Option<i64>,
    state: &'static str,
    currency: &'static str,
    issued_at: Option<NaiveDateTime>,
    due_on: Option<NaiveDate>,
    line_count: i32,
    subtotal_e4: i64,
    tax_e4: i64,
    total_e4: i64,
    paid_e4: i64,
    credited_e4: i64,
    created_by: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}
const INVOICE_COLS: usize = 17;

#[derive(Insertable)]
#[diesel(table_name = invoice_lines, treat_none_as_default_value = false)]
struct InvoiceLineIns {
    id: String,
    invoice_id: String,
    position: i32,
    description: &'static str,
    quantity_e4: i64,
    unit_price_e4: i64,
    tax_rate_e4: i64,
    net_e4: i64,
    tax_e4: i64,
    total_e4: i64,
}
const LINE_COLS: usize = 10;

#[derive(Insertable)]
#[diesel(table_name = payments, treat_none_as_default_value = false)]
struct PaymentIns {
    id: String,
    invoice_id: String,
    amount_e4: i64,
    paid_on: NaiveDate,
    method: Option<&'static str>,
    created_by: Option<String>,
    created_at: NaiveDateTime,
}
const PAYMENT_COLS: usize = 7;

/// The open stages in pipeline order (the demo uses the default pipeline).
const OPEN_STAGES: &[&str] = &["new", "qualified", "proposal", "negotiation"];

const LOST_REASONS: &[(&str, u32)] = &[
    ("Price too high", 30),
    ("Chose a competitor", 22),
    ("No budget this year", 16),
    ("No answer after the proposal", 14),
    ("Timing: postponed", 12),
    ("Not a fit", 6),
];

/// VAT by currency (percent), roughly the countries' standard rates.
fn tax_rate(currency: &str) -> i64 {
    match currency {
        "GEL" | "AZN" => 18,
        "UZS" => 12,
        "RUB" => 20,
        "AED" => 5,
        "EUR" => 19,
        _ => 0,
    }
}

#[derive(Default)]
struct Batch {
    clients: Vec<ClientIns>,
    contacts: Vec<ContactIns>,
    tags: Vec<TagIns>,
    timeline: Vec<TimelineIns>,
    deals: Vec<DealIns>,
    stage_changes: Vec<StageChangeIns>,
    projects: Vec<ProjectIns>,
    invoices: Vec<InvoiceIns>,
    lines: Vec<InvoiceLineIns>,
    payments: Vec<PaymentIns>,
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
struct Counts {
    clients: u64,
    phones: u64,
    emails: u64,
    tags: u64,
    timeline: u64,
    deals: u64,
    stage_changes: u64,
    projects: u64,
    invoices: u64,
    payments: u64,
}

impl Counts {
    fn merge(&mut self, o: &Counts) {
        self.clients += o.clients;
        self.phones += o.phones;
        self.emails += o.emails;
        self.tags += o.tags;
        self.timeline += o.timeline;
        self.deals += o.deals;
        self.stage_changes += o.stage_changes;
        self.projects += o.projects;
        self.invoices += o.invoices;
        self.payments += o.payments;
    }

    fn add(&mut self, b: &Batch) {
        self.clients += b.clients.len() as u64;
        for c in &b.contacts {
            if c.kind == "phone" {
                self.phones += 1;
            } else {
                self.emails += 1;
            }
        }
        self.tags += b.tags.len() as u64;
        self.timeline += b.timeline.len() as u64;
        self.deals += b.deals.len() as u64;
        self.stage_changes += b.stage_changes.len() as u64;
        self.projects += b.projects.len() as u64;
        self.invoices += b.invoices.len() as u64;
        self.payments += b.payments.len() as u64;
    }
}

/// Random UUIDs, 256 per call to the system's random source.
struct Ids<'a> {
    env: &'a Env,
    buf: [u8; 4096],
    at: usize,
}

impl<'a> Ids<'a> {
    fn new(env: &'a Env) -> Self {
        Ids {
            env,
            buf: [0; 4096],
            at: 4096,
        }
    }

    fn next(&mut self) -> Result<String, DemoError> {
        if self.at + 16 > self.buf.len() {
            self.buf = self.env.random_bytes::<4096>()?;
            self.at = 0;
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&self.buf[self.at..self.at + 16]);
        self.at += 16;
        Ok(uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string())
    }
}

struct Generator<'a> {
    rng: Rng,
    ids: Ids<'a>,
    now: NaiveDateTime,
    owners: Vec<(Owner, u32)>,
    statuses: Vec<(String, u32)>,
}

impl Generator<'_> {
    /// A moment between `from` and now.
    fn after(&mut self, from: NaiveDateTime) -> NaiveDateTime {
        let span = (self.now - from).num_seconds().max(1);
        from + Duration::seconds(self.rng.range(1, span))
    }

    fn client(&mut self, out: &mut Batch) -> Result<(), DemoError> {
        let rng = &mut self.rng;
        let p = person(rng);
        let owner = rng.weighted(&self.owners).clone();
        let status = rng.weighted(&self.statuses).clone();
        // More recent clients are more common (a growing business).
        let horizon = HISTORY_DAYS * 86_400;
        let age = rng.range(0, horizon).min(rng.range(0, horizon));
        let created =
            self.now - Duration::seconds(age) - Duration::microseconds(rng.range(0, 999_999));
        let id = self.ids.next()?;

        let mut phones_e164 = Vec::with_capacity(p.phones.len());
        for (i, (typed, _)) in p.phones.iter().enumerate() {
            let normalized = contact::normalize_phone(typed, None)?;
            let label = match i {
                0 => Some("mobile"),
                _ => Some(*self.rng.pick(&["work", "home", "WhatsApp"])),
            };
            out.contacts.push(ContactIns {
                id: self.ids.next()?,
                client_id: id.clone(),
                kind: "phone",
                value: typed.clone(),
                normalized: normalized.clone(),
                label,
                position: i as i32,
            });
            phones_e164.push(normalized);
        }
        let mut emails = Vec::new();
        if let Some(e) = &p.email {
            let normalized = contact::normalize_email(e)?;
            out.contacts.push(ContactIns {
                id: self.ids.next()?,
                client_id: id.clone(),
                kind: "email",
                value: e.clone(),
                normalized: normalized.clone(),
                label: None,
                position: p.phones.len() as i32,
            });
            emails.push(normalized);
        }

        let rng = &mut self.rng;
        let tag_count = *rng.weighted(&[(0usize, 30), (1, 40), (2, 22), (3, 8)]);
        let mut tags: Vec<&'static str> = Vec::with_capacity(tag_count);
        while tags.len() < tag_count {
            let t = *rng.pick(TAGS);
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        if status == "vip" && !tags.contains(&"priority") {
            tags.push("priority");
        }
        for tag in tags {
            out.tags.push(TagIns {
                client_id: id.clone(),
                tag,
            });
        }
        let source = rng.percent(85).then(|| *rng.weighted(SOURCES));

        // Timeline: the created entry, then for about half the clients some work.
        let author = Some(owner.id.clone());
        let mut last = created;
        out.timeline.push(TimelineIns {
            id: self.ids.next()?,
            client_id: id.clone(),
            kind: "created",
            occurred_at: created,
            author_id: author.clone(),
            subject: None,
            body: None,
            call_direction: None,
            call_duration_secs: None,
            call_outcome: None,
            recording_url: None,
            old_value: None,
            new_value: None,
            created_at: created,
        });
        let active = self.rng.percent(48);
        let mut last_contact: Option<NaiveDateTime> = None;
        if active {
            let n = self.rng.range(1, 5);
            for _ in 0..n {
                let at = self.after(created);
                last = last.max(at);
                let entry = self.activity(&id, author.clone(), at)?;
                if crate::crm::timeline::CONTACT_KINDS.contains(&entry.kind) {
                    last_contact = last_contact.max(Some(at));
                }
                out.timeline.push(entry);
            }
        }
        if status != "new" && self.rng.percent(if active { 80 } else { 30 }) {
            let at = self.after(created);
            last = last.max(at);
            out.timeline.push(TimelineIns {
                id: self.ids.next()?,
                client_id: id.clone(),
                kind: "status_change",
                occurred_at: at,
                author_id: author.clone(),
                subject: None,
                body: None,
                call_direction: None,
                call_duration_secs: None,
                call_outcome: None,
                recording_url: None,
                old_value: Some("new".into()),
                new_value: Some(status.clone()),
                created_at: at,
            });
        }

        // Deals for about a third of the clients, more for active ones.
        if self.rng.percent(if active { 45 } else { 15 }) {
            let n = if self.rng.percent(20) { 2 } else { 1 };
            for _ in 0..n {
                let rng = &mut self.rng;
                let (currency, lo, hi) = p.currency;
                let whole = rng.range(lo, hi);
                let cents = if currency == "UZS" {
                    0
                } else {
                    *rng.pick(&[0, 0, 0, 50, 99]) * 100
                };
                let opened = self.after(created);
                let updated = self.after(opened);
                last = last.max(updated);
                let rng = &mut self.rng;
                let title = *rng.pick(DEAL_TITLES);
                let stage = *rng.weighted(DEAL_STAGES);
                let lost_reason = (stage == "lost").then(|| *rng.weighted(LOST_REASONS));
                let deal_id = self.ids.next()?;
                let amount_e4 = whole * 10_000 + cents;
                let rng = &mut self.rng;
                let expected_close = rng
                    .percent(85)
                    .then(|| (opened + Duration::days(rng.range(7, 150))).date());
                let reached_stage = self.deal_history(
                    &deal_id,
                    stage,
                    lost_reason,
                    &owner.id,
                    opened,
                    updated,
                    out,
                )?;
                if stage == "won" {
                    self.billing(&id, title, amount_e4, currency, &owner.id, updated, out)?;
                    last = last.max(updated);
                }
                out.deals.push(DealIns {
                    id: deal_id,
                    client_id: id.clone(),
                    title,
                    amount_e4,
                    currency,
                    stage,
                    expected_close,
                    owner_id: Some(owner.id.clone()),
                    created_at: opened,
                    updated_at: updated,
                    lost_reason,
                    reached_stage,
                });
            }
        }

        out.clients.push(ClientIns {
            search_text: search::document(&p.name, p.company.as_deref(), &phones_e164, &emails),
            id,
            kind: if p.company_kind { "company" } else { "person" },
            name: p.name,
            company: p.company,
            status,
            source,
            address: p.address,
            owner_id: Some(owner.id.clone()),
            team_id: owner.team_id.clone(),
            duplicate_of: None,
            created_by: Some(owner.id),
            created_at: created,
            updated_at: last,
            last_contact_at: last_contact,
        });
        Ok(())
    }

    /// The stage changes that brought a deal to `stage`: from `new` through
    /// some of the open stages (now and then one is skipped), then won or lost;
    /// spread between its creation and its last update. Returns the furthest
    /// open stage reached.
    #[allow(clippy::too_many_arguments)]
    fn deal_history(
        &mut self,
        deal_id: &str,
        stage: &'static str,
        lost_reason: Option<&'static str>,
        owner: &str,
        opened: NaiveDateTime,
        updated: NaiveDateTime,
        out: &mut Batch,
    ) -> Result<&'static str, DemoError> {
        let rng = &mut self.rng;
        let furthest = match stage {
            "won" => *rng.weighted(&[(1usize, 10), (2, 35), (3, 55)]),
            "lost" => *rng.weighted(&[(0usize, 30), (1, 30), (2, 25), (3, 15)]),
            open => OPEN_STAGES.iter().position(|s| *s == open).unwrap_or(0),
        };
        let mut path: Vec<&'static str> = vec![OPEN_STAGES[0]];
        for s in &OPEN_STAGES[1..=furthest] {
            // The last open stage reached is always recorded; earlier ones are
            // sometimes skipped (a deal moved two columns at once).
            if *s == OPEN_STAGES[furthest] || !rng.percent(12) {
                path.push(*s);
            }
        }
        if stage == "won" || stage == "lost" {
            path.push(stage);
        }
        let span = (updated - opened).num_seconds().max(1);
        let mut at = opened;
        let mut from: Option<&'static str> = None;
        for (i, to) in path.iter().enumerate() {
            if i > 0 {
                let left = (updated - at).num_seconds().max(1);
                let step = (span / path.len() as i64).clamp(1, left);
                at += Duration::seconds(self.rng.range(1, step));
            }
            out.stage_changes.push(StageChangeIns {
                id: self.ids.next()?,
                deal_id: deal_id.to_string(),
                from_stage: from,
                to_stage: to,
                lost_reason: if *to == "lost" { lost_reason } else { None },
                changed_at: at,
                changed_by: Some(owner.to_string()),
            });
            from = Some(*to);
        }
        Ok(OPEN_STAGES[furthest])
    }

    /// A won deal becomes a project and one to four issued invoices (the deal's
    /// amount in parts, with the currency's VAT), issued a month apart from the
    /// win, each paid in full, in part or not at all, by how long ago it fell due.
    #[allow(clippy::too_many_arguments)]
    fn billing(
        &mut self,
        client_id: &str,
        title: &'static str,
        amount_e4: i64,
        currency: &'static str,
        owner: &str,
        won: NaiveDateTime,
        out: &mut Batch,
    ) -> Result<(), DemoError> {
        let rng = &mut self.rng;
        let starts = won.date() + Duration::days(rng.range(0, 14));
        let ends = starts + Duration::days(rng.range(20, 150));
        let status = if ends < self.now.date() {
            *rng.weighted(&[("done", 90u32), ("cancelled", 4), ("on_hold", 6)])
        } else if starts <= self.now.date() {
            "active"
        } else {
            "planned"
        };
        out.projects.push(ProjectIns {
            id: self.ids.next()?,
            client_id: client_id.to_string(),
            name: title,
            status,
            starts_on: Some(starts),
            ends_on: Some(ends),
            responsible_id: Some(owner.to_string()),
            created_by: Some(owner.to_string()),
            created_at: won,
            updated_at: won,
        });
        let rng = &mut self.rng;
        let parts = *rng.weighted(&[(1i64, 55u32), (2, 25), (3, 12), (4, 8)]);
        // Whole cents (whole units for UZS), the last part takes the rest.
        let unit: i64 = if currency == "UZS" { 10_000 } else { 100 };
        let share = (amount_e4 / parts) / unit * unit;
        let rate = tax_rate(currency);
        let today = self.now.date();
        for i in 0..parts {
            let rng = &mut self.rng;
            let issued = won
                + Duration::days(30 * i + rng.range(0, 5))
                + Duration::seconds(rng.range(0, 86_399));
            if issued >= self.now {
                break;
            }
            let net = if i == parts - 1 {
                amount_e4 - share * (parts - 1)
            } else {
                share
            };
            let tax = (net * rate / 100 + unit / 2) / unit * unit;
            let total = net + tax;
            let due = issued.date() + Duration::days(*rng.pick(&[14, 14, 30, 30, 45]));
            let invoice_id = self.ids.next()?;
            // Paid in full, in part, or not yet: older invoices are mostly settled.
            let settled = if due < today - Duration::days(30) {
                *rng.weighted(&[("full", 86u32), ("part", 6), ("none", 8)])
            } else if due < today {
                *rng.weighted(&[("full", 55u32), ("part", 15), ("none", 30)])
            } else {
                *rng.weighted(&[("full", 35u32), ("part", 10), ("none", 55)])
            };
            let mut paid = 0;
            if settled != "none" {
                let latest = (today - issued.date()).num_days().max(0);
                let on = issued.date() + Duration::days(rng.range(0, latest.min(60)));
                let amount = if settled == "full" {
                    total
                } else {
                    (total * rng.range(20, 80) / 100) / unit * unit
                };
                if amount > 0 {
                    paid = amount;
                    out.payments.push(PaymentIns {
                        id: self.ids.next()?,
                        invoice_id: invoice_id.clone(),
                        amount_e4: amount,
                        paid_on: on,
                        method: Some(*self.rng.pick(&["bank", "bank", "card", "cash"])),
                        created_by: Some(owner.to_string()),
                        created_at: on.and_hms_opt(12, 0, 0).unwrap_or(issued),
                    });
                }
            }
            out.lines.push(InvoiceLineIns {
                id: self.ids.next()?,
                invoice_id: invoice_id.clone(),
                position: 1,
                description: title,
                quantity_e4: 10_000,
                unit_price_e4: net,
                tax_rate_e4: rate * 10_000,
                net_e4: net,
                tax_e4: tax,
                total_e4: total,
            });
            out.invoices.push(InvoiceIns {
                id: invoice_id,
                client_id: client_id.to_string(),
                kind: "invoice",
                number: None,
                state: "sent",
                currency,
                issued_at: Some(issued),
                due_on: Some(due),
                line_count: 1,
                subtotal_e4: net,
                tax_e4: tax,
                total_e4: total,
                paid_e4: paid,
                credited_e4: 0,
                created_by: Some(owner.to_string()),
                created_at: issued,
                updated_at: issued,
            });
        }
        Ok(())
    }

    fn activity(
        &mut self,
        client_id: &str,
        author: Option<String>,
        at: NaiveDateTime,
    ) -> Result<TimelineIns, DemoError> {
        let mut row = TimelineIns {
            id: self.ids.next()?,
            client_id: client_id.to_string(),
            kind: "note",
            occurred_at: at,
            author_id: author,
            subject: None,
            body: None,
            call_direction: None,
            call_duration_secs: None,
            call_outcome: None,
            recording_url: None,
            old_value: None,
            new_value: None,
            created_at: at,
        };
        let rng = &mut self.rng;
        match *rng.weighted(&[
            ("call", 45u32),
            ("note", 22),
            ("email", 18),
            ("meeting", 15),
        ]) {
            "call" => {
                let outcome = *rng.weighted(CALL_OUTCOMES);
                let answered = outcome == "answered";
                row.kind = "call";
                row.call_direction = Some(if rng.percent(55) {
                    "outbound"
                } else {
                    "inbound"
                });
                row.call_outcome = Some(outcome);
                row.call_duration_secs = Some(if answered {
                    rng.range(25, 1_500) as i32
                } else if outcome == "voicemail" {
                    rng.range(10, 60) as i32
                } else {
                    0
                });
                if answered {
                    row.recording_url = Some(format!(
                        "https://pbx.example.com/recordings/{:016x}.mp3",
                        rng.next_u64()
                    ));
                    row.body = rng.percent(70).then(|| *rng.pick(CALL_NOTES));
                }
            }
            "email" => {
                let (subject, body) = *rng.pick(EMAILS);
                row.kind = "email";
                row.call_direction = Some(if rng.percent(60) {
                    "outbound"
                } else {
                    "inbound"
                });
                row.subject = Some(if subject == "Invoice" {
                    format!("Invoice INV-{}", rng.range(1_000, 99_999))
                } else {
                    subject.to_string()
                });
                row.body = Some(body);
            }
            "meeting" => {
                let (subject, body) = *rng.pick(MEETINGS);
                row.kind = "meeting";
                row.subject = Some(subject.to_string());
                row.body = Some(body);
            }
            _ => {
                row.body = Some(*rng.pick(NOTES));
            }
        }
        Ok(row)
    }
}

/// Writes one batch with multi-row inserts on the concrete connection (the
/// `MultiConnection` enum cannot batch).
fn insert_batch(
    conn: &mut DbConn,
    b: &mut Batch,
    last_number: &mut i64,
) -> Result<(), diesel::result::Error> {
    // Issued invoices take the next numbers of the one sequence, in this
    // transaction (the caller stores the sequence's new end with them).
    for inv in &mut b.invoices {
        *last_number += 1;
        inv.number = Some(*last_number);
    }
    let b = &*b;
    macro_rules! put_all {
        ($c:expr) => {{
            for chunk in b.clients.chunks(MAX_BINDS / CLIENT_COLS) {
                diesel::insert_into(clients::table)
                    .values(chunk)
                    .execute($c)?;
            }
            for chunk in b.contacts.chunks(MAX_BINDS / CONTACT_COLS) {
                diesel::insert_into(client_contacts::table)
                    .values(chunk)
                    .execute($c)?;
            }
            for chunk in b.tags.chunks(MAX_BINDS / TAG_COLS) {
                diesel::insert_into(client_tags::table)
                    .values(chunk)
                    .execute($c)?;
            }
            for chunk in b.timeline.chunks(MAX_BINDS / TIMELINE_COLS) {
                diesel::insert_into(timeline_entries::table)
                    .values(chunk)
                    .execute($c)?;
            }
            for chunk in b.deals.chunks(MAX_BINDS / DEAL_COLS) {
                diesel::insert_into(deals::table)
                    .values(chunk)
                    .execute($c)?;
            }
            for chunk in b.stage_changes.chunks(MAX_BINDS / STAGE_CHANGE_COLS) {
                diesel::insert_into(deal_stage_changes::table)
                    .values(chunk)
                    .execute($c)?;
            }
            for chunk in b.projects.chunks(MAX_BINDS / PROJECT_COLS) {
                diesel::insert_into(projects::table)
                    .values(chunk)
                    .execute($c)?;
            }
            for chunk in b.invoices.chunks(MAX_BINDS / INVOICE_COLS) {
                diesel::insert_into(invoices::table)
                    .values(chunk)
                    .execute($c)?;
            }
            for chunk in b.lines.chunks(MAX_BINDS / LINE_COLS) {
                diesel::insert_into(invoice_lines::table)
                    .values(chunk)
                    .execute($c)?;
            }
            for chunk in b.payments.chunks(MAX_BINDS / PAYMENT_COLS) {
                diesel::insert_into(payments::table)
                    .values(chunk)
                    .execute($c)?;
            }
        }};
    }
    match conn {
        DbConn::Sqlite(c) => put_all!(c),
        DbConn::Pg(c) => put_all!(c),
    }
    Ok(())
}

/// Loads `clients` demo clients (and the demo staff) into `store`. Returns a
/// printable summary. The load is audited as one `demo.load` event.
pub fn load(
    store: &Store,
    env: &Env,
    clients: usize,
    seed: u64,
    password: &SecretString,
) -> Result<String, DemoError> {
    password::check_policy(password)?;
    let started = Instant::now();
    let mut conn = store.conn()?;
    let statuses = status_weights(&mut conn)?;
    let staff = ensure_staff(&mut conn, env, password)?;
    let sqlite = matches!(&*conn, DbConn::Sqlite(_));
    if sqlite {
        conn.batch_execute(&format!("PRAGMA cache_size = -{}", load_cache_kib(clients)))?;
    }
    let loaded = load_clients(&mut conn, env, clients, seed, &staff.owners, statuses);
    // Housekeeping after a bulk load; a failure here loses nothing.
    let housekeeping = if sqlite {
        // Back to the default cache, and fold the write-ahead log into the database.
        conn.batch_execute("PRAGMA cache_size = -2000; PRAGMA wal_checkpoint(TRUNCATE);")
    } else {
        // Planner statistics and the visibility map now, instead of autovacuum
        // doing the same work a little later under load; right after a bulk
        // load without statistics, list pages were several times slower.
        conn.batch_execute(
            "VACUUM (ANALYZE) clients, client_contacts, client_tags, timeline_entries, deals, \
             deal_stage_changes, projects, invoices, invoice_lines, payments",
        )
    };
    if let Err(e) = housekeeping {
        eprintln!("demo: the tidy-up after loading failed (the data is complete): {e}");
    }
    let elapsed = started.elapsed();
    let (counts, failure) = match loaded {
        Ok(c) => (c, None),
        Err((c, e)) => (c, Some(e)),
    };

    let detail = serde_json::json!({
        "seed": seed,
        "requested_clients": clients,
        "counts": counts,
        "users_created": staff.created.iter().map(|(_, d)| d).collect::<Vec<_>>(),
        "users_kept": staff.kept,
        "seconds": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
        "error": failure.as_ref().map(|e| e.to_string()),
    });
    let event = Event::new(
        "demo.load",
        if failure.is_some() {
            Outcome::Failed
        } else {
            Outcome::Ok
        },
    )
    .by(Who::console())
    .on("user", staff.created.iter().map(|(id, _)| id.clone()))
    .detail(detail);
    let audited = audit::record(&mut conn, env, &RequestMeta::default(), &event);
    if let Some(e) = failure {
        return Err(DemoError::new(format!(
            "{e} (after {} clients had been written)",
            counts.clients
        )));
    }
    audited.map_err(|e| {
        DemoError::new(format!(
            "the demo data was written, but its audit event could not be recorded: {e}"
        ))
    })?;

    let mut s = String::new();
    let _ = writeln!(
        s,
        "Demo data loaded in {:.1} s (seed {seed}).",
        elapsed.as_secs_f64()
    );
    if !staff.created.is_empty() {
        let _ = writeln!(
            s,
            "Users created (password as given): {}",
            staff
                .created
                .iter()
                .map(|(_, d)| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !staff.kept.is_empty() {
        let _ = writeln!(
            s,
            "Users already present, kept with their passwords: {}",
            staff.kept.join(", ")
        );
    }
    let _ = write!(
        s,
        "Clients: {} · phones: {} · emails: {} · tags: {} · timeline entries: {} · deals: {} \
         (stage changes: {}) · projects: {} · invoices: {} · payments: {}",
        counts.clients,
        counts.phones,
        counts.emails,
        counts.tags,
        counts.timeline,
        counts.deals,
        counts.stage_changes,
        counts.projects,
        counts.invoices,
        counts.payments
    );
    Ok(s)
}

/// Generates on a second thread while this one writes. On failure, returns what
/// was written so far with the error.
fn load_clients(
    conn: &mut DbConn,
    env: &Env,
    clients: usize,
    seed: u64,
    owners: &[Owner],
    statuses: Vec<(String, u32)>,
) -> Result<Counts, (Counts, DemoError)> {
    let mut counts = Counts::default();
    // Whole microseconds, as PostgreSQL keeps them and as list cursors carry them.
    let now = env.now().naive_utc();
    let now =
        now - Duration::nanoseconds(i64::from(now.and_utc().timestamp_subsec_nanos() % 1_000));
    let started = Instant::now();
    let mut reported = Instant::now();
    let report = clients >= PROGRESS_FROM;
    let (tx, rx) = mpsc::sync_channel::<Result<Batch, DemoError>>(1);
    let owners: Vec<(Owner, u32)> = owners.iter().map(|o| (o.clone(), o.share)).collect();
    std::thread::scope(|scope| {
        let producer_env = env.clone();
        scope.spawn(move || {
            let mut generator = Generator {
                rng: Rng::new(seed),
                ids: Ids::new(&producer_env),
                now,
                owners,
                statuses,
            };
            let mut left = clients;
            while left > 0 {
                let n = left.min(BATCH);
                let mut batch = Batch::default();
                let mut made = Ok(());
                for _ in 0..n {
                    made = generator.client(&mut batch);
                    if made.is_err() {
                        break;
                    }
                }
                let message = made.map(|()| batch);
                let stop = message.is_err();
                // A closed channel means the writer failed and stopped listening.
                if tx.send(message).is_err() || stop {
                    return;
                }
                left -= n;
            }
        });
        // Time spent waiting for the generator vs. writing, to see which side limits.
        let mut waited = StdDuration::ZERO;
        let mut wrote = StdDuration::ZERO;
        let mut finished = false;
        while !finished {
            // One transaction holds several generated batches.
            let mut pending = Counts::default();
            write_tx(conn, |c| -> Result<(), DemoError> {
                // The invoice sequence, locked for this transaction (a row lock on
                // PostgreSQL; SQLite's write lock is held already).
                diesel::update(
                    invoice_sequences::table.filter(invoice_sequences::name.eq("invoice")),
                )
                .set(invoice_sequences::last_number.eq(invoice_sequences::last_number))
                .execute(c)?;
                let mut last_number: i64 = invoice_sequences::table
                    .filter(invoice_sequences::name.eq("invoice"))
                    .select(invoice_sequences::last_number)
                    .first(c)?;
                let first_number = last_number;
                while (pending.clients as usize) < TX_CLIENTS {
                    let t = Instant::now();
                    let Ok(message) = rx.recv() else {
                        finished = true;
                        break;
                    };
                    waited += t.elapsed();
                    let mut batch = message?;
                    let t = Instant::now();
                    insert_batch(c, &mut batch, &mut last_number)?;
                    wrote += t.elapsed();
                    pending.add(&batch);
                    let written = counts.clients + pending.clients;
                    if report
                        && (reported.elapsed() >= StdDuration::from_secs(5)
                            || written as usize == clients)
                    {
                        reported = Instant::now();
                        let secs = started.elapsed().as_secs_f64().max(0.001);
                        eprintln!(
                            "demo: {written}/{clients} clients ({:.0} clients/s, {:.0} s; \
                             writing {:.0} s, waiting for the generator {:.0} s)",
                            written as f64 / secs,
                            secs,
                            wrote.as_secs_f64(),
                            waited.as_secs_f64(),
                        );
                    }
                }
                if last_number != first_number {
                    diesel::update(
                        invoice_sequences::table.filter(invoice_sequences::name.eq("invoice")),
                    )
                    .set(invoice_sequences::last_number.eq(last_number))
                    .execute(c)?;
                }
                Ok(())
            })
            .map_err(|e| (counts, e))?;
            counts.merge(&pending);
        }
        Ok(counts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_any(s: &str, range: std::ops::RangeInclusive<char>) -> bool {
        s.chars().any(|c| range.contains(&c))
    }

    #[test]
    fn every_generated_phone_normalises() -> Result<(), CrmError> {
        let mut rng = Rng::new(1);
        for country in Country::ALL {
            for _ in 0..3_000 {
                let (typed, e164) = phone(&mut rng, country);
                let normalized = contact::normalize_phone(&typed, None)?;
                assert_eq!(normalized, e164, "{typed}");
                assert!(contact::national_digits(&normalized).is_some(), "{typed}");
            }
        }
        Ok(())
    }

    #[test]
    fn names_are_non_empty_and_in_several_scripts() -> Result<(), CrmError> {
        let mut rng = Rng::new(7);
        let mut seen = std::collections::HashSet::new();
        let mut text = String::new();
        for _ in 0..20_000 {
            let p = person(&mut rng);
            seen.insert(p.culture);
            assert!(!p.name.trim().is_empty());
            assert_eq!(p.name.trim(), p.name);
            assert!(!p.name.contains("  "), "{}", p.name);
            // What the API would accept as it is.
            assert_eq!(crate::crm::text::line("name", &p.name, 200)?, p.name);
            if let Some(a) = &p.address {
                assert!(!a.contains('{'), "{a}");
                crate::crm::text::body("address", a, 500)?;
            }
            assert!(!p.phones.is_empty() && p.phones.len() <= 2);
            for (typed, e164) in &p.phones {
                assert_eq!(&contact::normalize_phone(typed, None)?, e164);
            }
            if let Some(e) = &p.email {
                let n = contact::normalize_email(e)?;
                assert!(
                    n.ends_with(".example")
                        || n.ends_with("example.com")
                        || n.ends_with("example.net")
                        || n.ends_with("example.org"),
                    "{n}"
                );
            }
            text.push_str(&p.name);
            text.push(' ');
        }
        assert_eq!(seen.len(), CULTURES.len());
        assert!(has_any(&text, 'ა'..='ჰ'), "Georgian");
        assert!(has_any(&text, 'А'..='я'), "Cyrillic");
        assert!(has_any(&text, 'ء'..='ي'), "Arabic");
        for c in ['ʻ', 'ə', 'ş', 'ğ', 'Ə', 'ñ', 'ü', 'ł'] {
            assert!(text.contains(c), "{c}");
        }
        Ok(())
    }

    #[test]
    fn same_seed_same_people() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..100 {
            let (x, y) = (person(&mut a), person(&mut b));
            assert_eq!(x.name, y.name);
            assert_eq!(x.phones, y.phones);
            assert_eq!(x.email, y.email);
        }
        let mut c = Rng::new(43);
        let differs = (0..20).any(|_| person(&mut a).name != person(&mut c).name);
        assert!(differs);
    }

    #[test]
    fn load_twice_into_sqlite() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        check_load(&format!(
            "sqlite://{}",
            dir.path().join("demo.db").display()
        ))
    }

    #[test]
    fn refuses_a_user_with_another_role_before_writing() -> Result<(), Box<dyn std::error::Error>> {
        use crate::store::schema::users as user_rows;
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("demo.db").display());
        let store = Store::open(&SecretString::from(url), 1)?;
        let env = Env::system();
        let mut guard = store.conn()?;
        users::add(
            &mut guard,
            &env,
            NewUser {
                username: "sales.south.2".into(),
                display_name: None,
                role: Role::Admin,
                team: None,
                password: None,
            },
        )?;
        drop(guard);
        let pw = SecretString::from("demo-password-123".to_string());
        let err = load(&store, &env, 10, 7, &pw)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("`sales.south.2` already exists as admin"),
            "{err}"
        );
        let mut guard = store.conn()?;
        let conn: &mut DbConn = &mut guard;
        assert_eq!(user_rows::table.count().get_result::<i64>(conn)?, 1);
        assert_eq!(clients::table.count().get_result::<i64>(conn)?, 0);
        Ok(())
    }

    /// Runs when `HOLDFAST_TEST_DATABASE_URL` names a PostgreSQL server (as in CI).
    #[test]
    fn load_twice_into_postgres() -> Result<(), Box<dyn std::error::Error>> {
        let Some(admin) = std::env::var("HOLDFAST_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            return Ok(());
        };
        let name = format!("hf_demo_{}", uuid::Uuid::new_v4().simple());
        let mut server = diesel::PgConnection::establish(&admin)?;
        server.batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
        ))?;
        let mut url = url::Url::parse(&admin)?;
        url.set_path(&format!("/{name}"));
        let result = check_load(url.as_str());
        server.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        result
    }

    fn check_load(url: &str) -> Result<(), Box<dyn std::error::Error>> {
        use crate::store::schema::{audit_events, users};
        let store = Store::open(&SecretString::from(url.to_string()), 2)?;
        let env = Env::system();
        let pw = SecretString::from("demo-password-123".to_string());
        let first = load(&store, &env, 300, 7, &pw)?;
        assert!(first.contains("sales.north.1 (sales, north)"), "{first}");
        assert!(first.contains("Clients: 300"), "{first}");
        let second = load(&store, &env, 50, 8, &pw)?;
        assert!(second.contains("kept"), "{second}");
        assert!(!second.contains("Users created"), "{second}");

        let mut guard = store.conn()?;
        let conn: &mut DbConn = &mut guard;
        let n: i64 = clients::table.count().get_result(conn)?;
        assert_eq!(n, 350);
        let created: i64 = timeline_entries::table
            .filter(timeline_entries::kind.eq("created"))
            .count()
            .get_result(conn)?;
        assert_eq!(created, 350);
        let admins_own: i64 = clients::table
            .inner_join(users::table.on(users::id.nullable().eq(clients::owner_id)))
            .filter(users::role.eq("admin"))
            .count()
            .get_result(conn)?;
        assert_eq!(admins_own, 0);
        let events: i64 = audit_events::table
            .filter(audit_events::action.eq("demo.load"))
            .count()
            .get_result(conn)?;
        assert_eq!(events, 2);
        // The full-text index saw the rows.
        let search = match conn {
            DbConn::Sqlite(_) => {
                "SELECT count(*) AS n FROM clients_fts WHERE clients_fts MATCH '\"example\"*'"
            }
            DbConn::Pg(_) => {
                "SELECT count(*) AS n FROM clients \
                 WHERE search_tsv @@ to_tsquery('simple', 'example:*')"
            }
        };
        let indexed = diesel::sql_query(search).get_result::<CountRow>(conn)?.n;
        assert!(indexed > 0);
        // The loader writes what crm::deals and crm::timeline keep for the
        // reports exactly as they would: the same SQL as the migration's.
        let wrong_reached = diesel::sql_query(
            "SELECT count(*) AS n FROM deals WHERE reached_stage IS DISTINCT FROM \
             (SELECT h.to_stage FROM deal_stage_changes h \
              INNER JOIN deal_stages s ON s.code = h.to_stage \
              WHERE h.deal_id = deals.id AND s.kind = 'open' \
              ORDER BY s.position DESC, s.code LIMIT 1)",
        )
        .get_result::<CountRow>(conn)?
        .n;
        assert_eq!(wrong_reached, 0);
        let wrong_contact = diesel::sql_query(
            "SELECT count(*) AS n FROM clients WHERE last_contact_at IS DISTINCT FROM \
             (SELECT MAX(t.occurred_at) FROM timeline_entries t \
              WHERE t.client_id = clients.id AND t.kind IN ('call', 'email', 'meeting'))",
        )
        .get_result::<CountRow>(conn)?
        .n;
        assert_eq!(wrong_contact, 0);
        // A short password is refused before anything is written.
        assert!(load(&store, &env, 1, 1, &SecretString::from("short".to_string())).is_err());
        Ok(())
    }

    #[derive(QueryableByName)]
    struct CountRow {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
}

//! Fingerprint seeds: plausible clients planted in each export file, unique to
//! that export. Their emails are at a domain the company controls and their
//! phones come from a number pool it controls, so a list that leaks and gets
//! used shows up in the company's own mailbox or phone system; `trace` then
//! names the export. Names follow the scripts of the exported rows, so the seeds
//! do not stand out.

use crate::clock::{EntropyError, Env};
use crate::crm::export::ExportRow;

/// (native, Latin transliteration) first and last names per script.
struct Names {
    first: &'static [(&'static str, &'static str)],
    last: &'static [(&'static str, &'static str)],
}

const LATIN: Names = Names {
    first: &[
        ("Anna", "anna"),
        ("Jürgen", "juergen"),
        ("Élodie", "elodie"),
        ("Tomás", "tomas"),
        ("Zofia", "zofia"),
        ("Lukas", "lukas"),
        ("Marta", "marta"),
        ("Andrés", "andres"),
        ("Ingrid", "ingrid"),
        ("Paolo", "paolo"),
        ("Søren", "soren"),
        ("Laura", "laura"),
    ],
    last: &[
        ("Novák", "novak"),
        ("Müller", "mueller"),
        ("García", "garcia"),
        ("Kowalska", "kowalska"),
        ("Rossi", "rossi"),
        ("Dubois", "dubois"),
        ("Jensen", "jensen"),
        ("Horváth", "horvath"),
        ("Silva", "silva"),
        ("Berger", "berger"),
        ("Lindqvist", "lindqvist"),
        ("Moreau", "moreau"),
    ],
};

const GEORGIAN: Names = Names {
    first: &[
        ("ნინო", "nino"),
        ("გიორგი", "giorgi"),
        ("თამარ", "tamar"),
        ("დავით", "davit"),
        ("ანა", "ana"),
        ("ლევან", "levan"),
        ("მარიამ", "mariam"),
        ("ირაკლი", "irakli"),
        ("ეკა", "eka"),
        ("ზურაბ", "zurab"),
        ("სალომე", "salome"),
        ("ნიკა", "nika"),
    ],
    last: &[
        ("ბერიძე", "beridze"),
        ("კაპანაძე", "kapanadze"),
        ("გელაშვილი", "gelashvili"),
        ("მამულაშვილი", "mamulashvili"),
        ("ლომიძე", "lomidze"),
        ("ჯაფარიძე", "japaridze"),
        ("წერეთელი", "tsereteli"),
        ("ხარაიშვილი", "kharaishvili"),
        ("ნოზაძე", "nozadze"),
        ("ქავთარაძე", "kavtaradze"),
        ("ბაქრაძე", "bakradze"),
        ("ჩხეიძე", "chkheidze"),
    ],
};

const CYRILLIC: Names = Names {
    first: &[
        ("Алексей", "aleksey"),
        ("Мария", "maria"),
        ("Дмитрий", "dmitry"),
        ("Ольга", "olga"),
        ("Иван", "ivan"),
        ("Елена", "elena"),
        ("Сергей", "sergey"),
        ("Анна", "anna"),
        ("Павел", "pavel"),
        ("Татьяна", "tatiana"),
        ("Николай", "nikolay"),
        ("Ирина", "irina"),
    ],
    last: &[
        ("Иванов", "ivanov"),
        ("Смирнова", "smirnova"),
        ("Кузнецов", "kuznetsov"),
        ("Попова", "popova"),
        ("Соколов", "sokolov"),
        ("Лебедева", "lebedeva"),
        ("Козлов", "kozlov"),
        ("Новикова", "novikova"),
        ("Морозов", "morozov"),
        ("Волкова", "volkova"),
        ("Павлов", "pavlov"),
        ("Орлова", "orlova"),
    ],
};

const ARABIC: Names = Names {
    first: &[
        ("محمد", "mohammed"),
        ("فاطمة", "fatima"),
        ("أحمد", "ahmed"),
        ("مريم", "maryam"),
        ("علي", "ali"),
        ("ليلى", "layla"),
        ("يوسف", "yousef"),
        ("نور", "nour"),
        ("خالد", "khaled"),
        ("سارة", "sara"),
        ("عمر", "omar"),
        ("هدى", "huda"),
    ],
    last: &[
        ("الأحمد", "alahmad"),
        ("الحسن", "alhassan"),
        ("العلي", "alali"),
        ("الخطيب", "alkhatib"),
        ("النجار", "alnajjar"),
        ("السيد", "alsayed"),
        ("حداد", "haddad"),
        ("منصور", "mansour"),
        ("صالح", "saleh"),
        ("عثمان", "othman"),
        ("يوسف", "yousef"),
        ("الزين", "alzein"),
    ],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Latin,
    Georgian,
    Cyrillic,
    Arabic,
}

impl Script {
    fn names(self) -> &'static Names {
        match self {
            Script::Latin => &LATIN,
            Script::Georgian => &GEORGIAN,
            Script::Cyrillic => &CYRILLIC,
            Script::Arabic => &ARABIC,
        }
    }

    pub fn of(c: char) -> Option<Script> {
        match c {
            '\u{10A0}'..='\u{10FF}' | '\u{1C90}'..='\u{1CBF}' | '\u{2D00}'..='\u{2D2F}' => {
                Some(Script::Georgian)
            }
            '\u{0400}'..='\u{052F}' => Some(Script::Cyrillic),
            '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' | '\u{08A0}'..='\u{08FF}' => {
                Some(Script::Arabic)
            }
            c if c.is_alphabetic() && (c.is_ascii() || ('\u{00C0}'..='\u{024F}').contains(&c)) => {
                Some(Script::Latin)
            }
            _ => None,
        }
    }
}

/// The script each row's name is mostly written in.
pub fn scripts_of(rows: &[ExportRow]) -> Vec<Script> {
    rows.iter()
        .filter_map(|r| {
            let mut counts = [0usize; 4];
            for c in r.name.chars() {
                if let Some(s) = Script::of(c) {
                    counts[s as usize] += 1;
                }
            }
            let (i, n) = counts
                .iter()
                .enumerate()
                .max_by_key(|(_, n)| **n)
                .unwrap_or((0, &0));
            (*n > 0).then(|| {
                [
                    Script::Latin,
                    Script::Georgian,
                    Script::Cyrillic,
                    Script::Arabic,
                ][i]
            })
        })
        .collect()
}

/// The company's own phone numbers for seeds: single numbers and ranges.
#[derive(Debug, Clone, Default)]
pub struct PhonePool {
    /// (first, count) per range, numbers as digits without `+`.
    ranges: Vec<(u64, u64, usize)>,
}

impl PhonePool {
    /// Entries like `+995322000100` or `+995322000100..+995322000199`.
    pub fn parse(entries: &[String]) -> Result<PhonePool, String> {
        let mut ranges = Vec::new();
        for e in entries {
            let digits = |s: &str| -> Result<(u64, usize), String> {
                let d: String = s
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
                    .collect();
                let d = d
                    .strip_prefix('+')
                    .ok_or_else(|| format!("`{s}`: numbers start with + and the country code"))?;
                if !(7..=15).contains(&d.len()) || !d.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!("`{s}` is not an international phone number"));
                }
                d.parse::<u64>()
                    .map(|n| (n, d.len()))
                    .map_err(|_| format!("`{s}` is not a number"))
            };
            match e.split_once("..") {
                Some((a, b)) => {
                    let ((a, la), (b, lb)) = (digits(a.trim())?, digits(b.trim())?);
                    if la != lb || b < a {
                        return Err(format!(
                            "`{e}`: a range runs from a lower to a higher number of the same length"
                        ));
                    }
                    ranges.push((a, b - a + 1, la));
                }
                None => {
                    let (n, len) = digits(e.trim())?;
                    ranges.push((n, 1, len));
                }
            }
        }
        Ok(PhonePool { ranges })
    }

    pub fn size(&self) -> u64 {
        self.ranges.iter().map(|r| r.1).sum()
    }

    /// The `i`-th number of the pool (E.164).
    pub fn nth(&self, mut i: u64) -> Option<String> {
        for (first, count, len) in &self.ranges {
            if i < *count {
                return Some(format!("+{:0len$}", first + i, len = *len));
            }
            i -= count;
        }
        None
    }
}

/// Where seeds get their contacts.
#[derive(Debug, Clone, Default)]
pub struct SeedConfig {
    pub domain: Option<String>,
    pub phones: PhonePool,
    pub per_export: usize,
}

/// A seed as planted: a row of the file, and its normalised contacts.
#[derive(Debug, Clone)]
pub struct Seed {
    pub row: ExportRow,
    pub email: Option<String>,
    pub phone: Option<String>,
}

fn below(env: &Env, n: u64) -> Result<u64, EntropyError> {
    if n == 0 {
        return Ok(0);
    }
    Ok(u64::from_le_bytes(env.random_bytes::<8>()?) % n)
}

fn pick<'a, T>(env: &Env, items: &'a [T]) -> Result<Option<&'a T>, EntropyError> {
    if items.is_empty() {
        return Ok(None);
    }
    Ok(items.get(below(env, items.len() as u64)? as usize))
}

/// Makes `cfg.per_export` seeds for an export of `rows`. `taken` says whether an
/// email or phone already belongs to an earlier seed (they are tried again).
pub fn generate(
    env: &Env,
    cfg: &SeedConfig,
    rows: &[ExportRow],
    mut taken: impl FnMut(Option<&str>, Option<&str>) -> bool,
) -> Result<Vec<Seed>, EntropyError> {
    let scripts = scripts_of(rows);
    let mut out: Vec<Seed> = Vec::with_capacity(cfg.per_export);
    for _ in 0..cfg.per_export {
        let script = pick(env, &scripts)?.copied().unwrap_or(Script::Latin);
        let names = script.names();
        let mut attempt = 0;
        let seed = loop {
            attempt += 1;
            let (first, first_l) = *pick(env, names.first)?.unwrap_or(&("Anna", "anna"));
            let (last, last_l) = *pick(env, names.last)?.unwrap_or(&("Silva", "silva"));
            let email = cfg.domain.as_ref().map(|d| {
                let n = below(env, 9000).unwrap_or(0) + 1000;
                format!("{first_l}.{last_l}{n}@{d}")
            });
            let phone = match cfg.phones.size() {
                0 => None,
                size => cfg.phones.nth(below(env, size)?),
            };
            let clash = out.iter().any(|s| {
                (s.email.is_some() && s.email == email) || (s.phone.is_some() && s.phone == phone)
            });
            // A pool smaller than the seeds ever made wears out: after a few
            // tries a number is reused; the email (and the export's other seeds)
            // still tell the exports apart.
            if (!clash && !taken(email.as_deref(), phone.as_deref())) || attempt >= 12 {
                let like = pick(env, rows)?;
                let row = ExportRow {
                    id: env.new_id()?.to_string(),
                    kind: "person".into(),
                    name: format!("{first} {last}"),
                    company: None,
                    status: like
                        .map(|r| r.status.clone())
                        .unwrap_or_else(|| "new".into()),
                    phones: phone.iter().cloned().collect(),
                    emails: email.iter().cloned().collect(),
                    address: None,
                    tags: Vec::new(),
                    owner: like.and_then(|r| r.owner.clone()),
                    team: like.and_then(|r| r.team.clone()),
                    source: like.and_then(|r| r.source.clone()),
                    created_at: like
                        .map(|r| r.created_at.clone())
                        .unwrap_or_else(|| env.now().format("%Y-%m-%d").to_string()),
                };
                break Seed { row, email, phone };
            }
        };
        out.push(seed);
    }
    Ok(out)
}

/// The rows with the seed rows placed at random positions among them.
pub fn plant<T>(env: &Env, rows: Vec<T>, seeds: Vec<T>) -> Result<Vec<T>, EntropyError> {
    let mut out = rows;
    for s in seeds {
        let at = below(env, out.len() as u64 + 1)? as usize;
        out.insert(at, s);
    }
    Ok(out)
}

/// One of the rows at random, for a seed to look like (none when there are none).
pub fn like<'a, T>(env: &Env, rows: &'a [T]) -> Result<Option<&'a T>, EntropyError> {
    pick(env, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> ExportRow {
        ExportRow {
            id: "x".into(),
            kind: "person".into(),
            name: name.into(),
            company: None,
            status: "warm".into(),
            phones: vec![],
            emails: vec![],
            address: None,
            tags: vec![],
            owner: Some("Eka".into()),
            team: Some("north".into()),
            source: None,
            created_at: "2026-01-02".into(),
        }
    }

    #[test]
    fn pool_ranges_and_single_numbers() {
        let p = PhonePool::parse(&[
            "+995 32 200 0100..+995322000102".into(),
            "+14155550100".into(),
        ])
        .unwrap();
        assert_eq!(p.size(), 4);
        assert_eq!(p.nth(0).unwrap(), "+995322000100");
        assert_eq!(p.nth(2).unwrap(), "+995322000102");
        assert_eq!(p.nth(3).unwrap(), "+14155550100");
        assert!(p.nth(4).is_none());
        assert!(PhonePool::parse(&["995322000100".into()]).is_err());
        assert!(PhonePool::parse(&["+995322000200..+995322000100".into()]).is_err());
    }

    #[test]
    fn seeds_follow_the_scripts_of_the_rows_and_use_the_company_contacts() {
        let env = Env::system();
        let cfg = SeedConfig {
            domain: Some("trace.example.com".into()),
            phones: PhonePool::parse(&["+995322000100..+995322000199".into()]).unwrap(),
            per_export: 3,
        };
        let rows = vec![row("ნინო ბერიძე"), row("გიორგი ლომიძე")];
        let seeds = generate(&env, &cfg, &rows, |_, _| false).unwrap();
        assert_eq!(seeds.len(), 3);
        for s in &seeds {
            assert!(
                s.row
                    .name
                    .chars()
                    .any(|c| Script::of(c) == Some(Script::Georgian))
            );
            assert!(s.email.as_deref().unwrap().ends_with("@trace.example.com"));
            assert!(s.phone.as_deref().unwrap().starts_with("+995322000"));
            assert_eq!(s.row.team.as_deref(), Some("north"));
        }
        let planted = plant(&env, rows, seeds.into_iter().map(|s| s.row).collect()).unwrap();
        assert_eq!(planted.len(), 5);
    }
}

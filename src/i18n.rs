//! Every user-visible string goes through here (Project Fluent). English ships;
//! a new language is a new `locales/LANG/main.ftl` and one line in `LOCALES`.

use std::collections::HashMap;
use std::sync::Arc;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// (language tag, Fluent sources). The first is the fallback.
const LOCALES: &[(&str, &[&str])] = &[(
    "en",
    &[
        include_str!("../locales/en/main.ftl"),
        include_str!("../locales/en/server.ftl"),
        include_str!("../locales/en/work.ftl"),
        include_str!("../locales/en/billing.ftl"),
        include_str!("../locales/en/import.ftl"),
        include_str!("../locales/en/reports.ftl"),
    ],
)];

/// Every message key of the fallback language, for the tests that check that
/// the keys pages use exist (the same sources the server loads).
#[cfg(test)]
pub(crate) fn english_keys() -> std::collections::HashSet<&'static str> {
    LOCALES[0]
        .1
        .iter()
        .flat_map(|src| src.lines())
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
        .collect()
}

/// Scripts written right to left.
const RTL_LANGUAGES: &[&str] = &["ar", "fa", "he", "ur", "ps", "ckb", "yi", "dv"];

#[derive(Debug, thiserror::Error)]
pub enum I18nError {
    #[error("locale {lang}: {message}")]
    Load { lang: String, message: String },
}

fn bundle(lang: &str, sources: &[&str]) -> Result<FluentBundle<FluentResource>, I18nError> {
    let err = |message: String| I18nError::Load {
        lang: lang.to_string(),
        message,
    };
    let id: LanguageIdentifier = lang.parse().map_err(|e| err(format!("{e}")))?;
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Isolation marks around arguments would show up inside attributes.
    bundle.set_use_isolating(false);
    for source in sources {
        let resource = FluentResource::try_new(source.to_string())
            .map_err(|(_, errors)| err(format!("{errors:?}")))?;
        bundle
            .add_resource(resource)
            .map_err(|errors| err(format!("{errors:?}")))?;
    }
    Ok(bundle)
}

/// A user-facing message not yet put into words: a Fluent key and its arguments.
/// Lower layers return these; the web layer words them in the reader's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Msg {
    pub fn new(key: &'static str) -> Msg {
        Msg {
            key,
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, name: &'static str, value: impl ToString) -> Msg {
        self.args.push((name, value.to_string()));
        self
    }

    fn fluent_args(&self) -> FluentArgs<'_> {
        let mut args = FluentArgs::new();
        for (name, value) in &self.args {
            // Numbers as numbers, so plural rules apply.
            match value.parse::<i64>() {
                Ok(n) => args.set(*name, FluentValue::from(n)),
                Err(_) => args.set(*name, FluentValue::from(value.as_str())),
            }
        }
        args
    }
}

/// English, for logs and the command line (pages and the API use the reader's language).
impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (lang, sources) = LOCALES[0];
        let Ok(bundle) = bundle(lang, sources) else {
            return f.write_str(self.key);
        };
        let Some(pattern) = bundle.get_message(self.key).and_then(|m| m.value()) else {
            return f.write_str(self.key);
        };
        let mut errors = vec![];
        let args = self.fluent_args();
        f.write_str(&bundle.format_pattern(pattern, Some(&args), &mut errors))
    }
}

pub struct I18n {
    bundles: HashMap<String, FluentBundle<FluentResource>>,
    fallback: String,
}

impl std::fmt::Debug for I18n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I18n")
            .field("languages", &self.bundles.keys())
            .finish()
    }
}

impl I18n {
    pub fn load() -> Result<Arc<I18n>, I18nError> {
        let mut bundles = HashMap::new();
        for (lang, sources) in LOCALES {
            bundles.insert(lang.to_string(), bundle(lang, sources)?);
        }
        Ok(Arc::new(I18n {
            bundles,
            fallback: LOCALES[0].0.to_string(),
        }))
    }

    /// The best available language for an `Accept-Language` header.
    pub fn negotiate(self: &Arc<Self>, accept_language: Option<&str>) -> Localizer {
        let mut best: Option<(f32, String)> = None;
        for part in accept_language.unwrap_or("").split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_lowercase();
            let q = pieces
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("").to_string();
            if self.bundles.contains_key(&primary) && best.as_ref().is_none_or(|(bq, _)| q > *bq) {
                best = Some((q, primary));
            }
        }
        let lang = best
            .map(|(_, l)| l)
            .unwrap_or_else(|| self.fallback.clone());
        self.localizer(&lang)
    }

    pub fn localizer(self: &Arc<Self>, lang: &str) -> Localizer {
        let lang = if self.bundles.contains_key(lang) {
            lang.to_string()
        } else {
            self.fallback.clone()
        };
        Localizer {
            rtl: RTL_LANGUAGES.contains(&lang.as_str()),
            lang,
            i18n: self.clone(),
        }
    }

    fn message(&self, lang: &str, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        for candidate in [lang, self.fallback.as_str()] {
            let Some(bundle) = self.bundles.get(candidate) else {
                continue;
            };
            let Some(msg) = bundle.get_message(key) else {
                continue;
            };
            let Some(pattern) = msg.value() else {
                continue;
            };
            let mut errors = vec![];
            return bundle
                .format_pattern(pattern, args, &mut errors)
                .into_owned();
        }
        tracing::warn!(key, lang, "missing translation");
        key.to_string()
    }
}

/// The translator for one request's language, handed to every template.
#[derive(Clone)]
pub struct Localizer {
    lang: String,
    rtl: bool,
    i18n: Arc<I18n>,
}

impl std::fmt::Debug for Localizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Localizer")
            .field("lang", &self.lang)
            .finish()
    }
}

impl Localizer {
    pub fn lang(&self) -> &str {
        &self.lang
    }

    /// `rtl` or `ltr`, for the page's `dir` attribute.
    pub fn dir(&self) -> &'static str {
        if self.rtl { "rtl" } else { "ltr" }
    }

    pub fn t(&self, key: &str) -> String {
        self.i18n.message(&self.lang, key, None)
    }

    /// A message with one named argument.
    pub fn t1(&self, key: &str, name: &str, value: impl ToString) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_string(), FluentValue::from(value.to_string()));
        self.i18n.message(&self.lang, key, Some(&args))
    }

    pub fn msg(&self, msg: &Msg) -> String {
        self.i18n
            .message(&self.lang, msg.key, Some(&msg.fluent_args()))
    }

    /// Whether a key exists (in this language or the fallback).
    pub fn has(&self, key: &str) -> bool {
        [self.lang.as_str(), self.i18n.fallback.as_str()]
            .iter()
            .any(|l| {
                self.i18n
                    .bundles
                    .get(*l)
                    .is_some_and(|b| b.has_message(key))
            })
    }

    /// A message with a number (plural rules apply).
    pub fn tn(&self, key: &str, name: &str, value: i64) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_string(), FluentValue::from(value));
        self.i18n.message(&self.lang, key, Some(&args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new `.ftl` file that is not in `LOCALES` would never be loaded.
    #[test]
    fn every_english_file_is_loaded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/locales/en");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(
                LOCALES[0].1.contains(&text.as_str()),
                "a file in locales/en is not in LOCALES"
            );
        }
    }

    #[test]
    fn english_and_fallback() {
        let i18n = I18n::load().unwrap();
        let l = i18n.negotiate(Some("ka-GE,ka;q=0.9,en;q=0.5"));
        assert_eq!(l.lang(), "en");
        assert_eq!(l.dir(), "ltr");
        assert_eq!(l.t("nav-clients"), "Clients");
        assert_eq!(l.t("no-such-key"), "no-such-key");
    }

    #[test]
    fn messages_carry_arguments() {
        let i18n = I18n::load().unwrap();
        let l = i18n.negotiate(None);
        let m = Msg::new("invalid-too-long").arg("len", 201).arg("max", 200);
        assert_eq!(l.msg(&m), "is 201 characters long; at most 200 are allowed");
        assert_eq!(
            m.to_string(),
            "is 201 characters long; at most 200 are allowed"
        );
    }

    #[test]
    fn rtl_languages_set_dir() {
        let i18n = I18n::load().unwrap();
        let l = Localizer {
            lang: "ar".into(),
            rtl: RTL_LANGUAGES.contains(&"ar"),
            i18n: i18n.clone(),
        };
        assert_eq!(l.dir(), "rtl");
        // Falls back to English text while no Arabic file ships.
        assert_eq!(l.t("nav-clients"), "Clients");
    }
}

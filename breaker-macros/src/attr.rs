//! The attribute's arguments: a model that keeps every value with its span, and its parser.

use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Path};

/// Every key the attribute accepts, in the order the error message lists them.
pub(crate) const KEYS: &[&str] = &[
    "name",
    "threshold",
    "failure_threshold",
    "success_threshold",
    "timeout_secs",
    "half_open_max_calls",
    "call_timeout_ms",
    "failure_strategy",
    "window_size",
    "window_secs",
    "minimum_calls",
    "failure_rate_threshold",
    "slow_call_duration_ms",
    "slow_call_rate_threshold",
    "backoff_multiplier",
    "max_timeout_secs",
    "jitter_percent",
    "half_open_max_wait_ms",
    "config",
    "fallback",
    "is_failure",
    "crate",
];

/// Which strategies use a field.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uses {
    All,
    Consecutive,
    Windows,
    CountWindow,
    TimeWindow,
}

/// A number field of `CircuitBreakerConfig`, with its allowed range (the runtime's limits).
#[derive(Clone, Copy)]
pub(crate) struct NumberField {
    /// The key in the attribute.
    pub(crate) key: &'static str,
    /// The field of `CircuitBreakerConfig` it sets.
    pub(crate) field: &'static str,
    pub(crate) min: u64,
    pub(crate) max: u64,
    /// `true` for a `u64` field, `false` for a `u32` one.
    pub(crate) wide: bool,
    pub(crate) uses: Uses,
}

/// A [`NumberField`] whose smallest value is 1 (0 would mean "the default", which the
/// attribute says by leaving the key out).
const fn number(
    key: &'static str,
    field: &'static str,
    max: u64,
    wide: bool,
    uses: Uses,
) -> NumberField {
    NumberField {
        key,
        field,
        min: 1,
        max,
        wide,
        uses,
    }
}

#[rustfmt::skip]
pub(crate) const NUMBER_FIELDS: &[NumberField] = &[
    number("threshold", "failure_threshold", 1_000_000, false, Uses::Consecutive),
    number("failure_threshold", "failure_threshold", 1_000_000, false, Uses::Consecutive),
    number("success_threshold", "success_threshold", 10_000, false, Uses::Consecutive),
    number("timeout_secs", "timeout_secs", 2_592_000, false, Uses::All),
    number("half_open_max_calls", "half_open_max_calls", 10_000, false, Uses::All),
    number("call_timeout_ms", "call_timeout_ms", 86_400_000, true, Uses::All),
    number("window_size", "window_size", 1_000, false, Uses::CountWindow),
    number("window_secs", "window_secs", 3_600, false, Uses::TimeWindow),
    number("minimum_calls", "minimum_calls", 1_000_000, false, Uses::Windows),
    number("failure_rate_threshold", "failure_rate_threshold", 100, false, Uses::Windows),
    number("slow_call_duration_ms", "slow_call_duration_ms", 86_400_000, true, Uses::Windows),
    number("slow_call_rate_threshold", "slow_call_rate_threshold", 100, false, Uses::Windows),
    number("max_timeout_secs", "max_timeout_secs", 2_592_000, false, Uses::All),
    number("jitter_percent", "jitter_percent", 50, false, Uses::All),
    number("half_open_max_wait_ms", "half_open_max_wait_ms", 86_400_000, true, Uses::All),
];

/// The parsed arguments of one `#[circuit_breaker(...)]`.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    /// `(field, key, value)`, each field at most once.
    pub(crate) numbers: Vec<(NumberField, Path, LitInt)>,
    /// `backoff_multiplier`, checked to lie in 1.0 to 10.0.
    pub(crate) backoff_multiplier: Option<(Path, f64)>,
    /// The strategy's enum variant (`FailureStrategyConsecutive`), and what it stands for.
    pub(crate) failure_strategy: Option<(LitStr, &'static str, Uses)>,
    pub(crate) config: Option<Path>,
    pub(crate) fallback: Option<Path>,
    pub(crate) is_failure: Option<Path>,
    pub(crate) krate: Option<Path>,
    /// Keys seen so far, to reject duplicates.
    seen: Vec<String>,
}

/// Strategies by the name the attribute takes, the variant they stand for, and the fields
/// that belong to them.
const STRATEGIES: &[(&str, &str, Uses)] = &[
    (
        "consecutive",
        "FailureStrategyConsecutive",
        Uses::Consecutive,
    ),
    (
        "count_window",
        "FailureStrategyCountWindow",
        Uses::CountWindow,
    ),
    ("time_window", "FailureStrategyTimeWindow", Uses::TimeWindow),
];

impl Args {
    /// Parses one `key = value` of the attribute.
    pub(crate) fn parse_meta(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let key = match meta.path.get_ident() {
            Some(ident) => ident.to_string(),
            None => {
                return Err(syn::Error::new_spanned(
                    &meta.path,
                    format!("expected one of {}", list(KEYS)),
                ))
            }
        };
        if !KEYS.contains(&key.as_str()) {
            let mut msg = format!("unknown argument `{key}`");
            if let Some(near) = nearest(&key) {
                msg.push_str(&format!("; did you mean `{near}`?"));
            }
            msg.push_str(&format!(" The arguments are {}", list(KEYS)));
            return Err(meta.error(msg));
        }
        if self.seen.contains(&key) {
            return Err(meta.error(format!("duplicate argument `{key}`")));
        }
        let same_field = |a: &str, b: &str| {
            (a == "threshold" && b == "failure_threshold")
                || (a == "failure_threshold" && b == "threshold")
        };
        if let Some(other) = self.seen.iter().find(|s| same_field(s, &key)) {
            return Err(meta.error(format!(
                "`{key}` and `{other}` set the same field, `failure_threshold`: give only one"
            )));
        }
        self.seen.push(key.clone());
        let value: Expr = meta.value()?.parse()?;
        match key.as_str() {
            "name" => {
                let lit = lit_str(&value, &key)?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new_spanned(lit, "`name` must not be empty"));
                }
                if lit.value().len() > 256 || lit.value().chars().any(char::is_control) {
                    return Err(syn::Error::new_spanned(
                        lit,
                        "`name` must be 1 to 256 bytes, with no control characters",
                    ));
                }
                self.name = Some(lit);
            }
            "failure_strategy" => {
                let lit = lit_str(&value, &key)?;
                let chosen = lit.value();
                match STRATEGIES.iter().find(|(name, _, _)| *name == chosen) {
                    Some((_, variant, uses)) => self.failure_strategy = Some((lit, variant, *uses)),
                    None => {
                        let names: Vec<&str> = STRATEGIES.iter().map(|(n, _, _)| *n).collect();
                        return Err(syn::Error::new_spanned(
                            lit,
                            format!(
                                "unknown failure strategy {chosen:?}; supported: {}",
                                list(&names)
                            ),
                        ));
                    }
                }
            }
            "backoff_multiplier" => {
                let parsed =
                    match &value {
                        Expr::Lit(ExprLit {
                            lit: Lit::Float(f), ..
                        }) if f.suffix().is_empty() => f.base10_parse::<f64>().ok(),
                        Expr::Lit(ExprLit {
                            lit: Lit::Int(i), ..
                        }) if i.suffix().is_empty() => i.base10_parse::<u32>().ok().map(f64::from),
                        other => return Err(syn::Error::new_spanned(
                            other,
                            "`backoff_multiplier` takes a number, as in `backoff_multiplier = 2.0`",
                        )),
                    };
                match parsed {
                    Some(v) if (1.0..=10.0).contains(&v) => {
                        self.backoff_multiplier = Some((meta.path.clone(), v));
                    }
                    _ => {
                        return Err(syn::Error::new_spanned(
                            value,
                            "`backoff_multiplier` must be between 1.0 and 10.0",
                        ))
                    }
                }
            }
            "config" => self.config = Some(path(&value, &key)?),
            "fallback" => self.fallback = Some(path(&value, &key)?),
            "is_failure" => self.is_failure = Some(path(&value, &key)?),
            "crate" => {
                let lit = lit_str(&value, &key)?;
                self.krate = Some(lit.parse::<Path>().map_err(|_| {
                    syn::Error::new_spanned(
                        &lit,
                        "`crate` must be a path, as in `crate = \"my_crate::cb\"`",
                    )
                })?);
            }
            _ => {
                let field = NUMBER_FIELDS
                    .iter()
                    .find(|f| f.key == key)
                    .copied()
                    .expect("every number key is in NUMBER_FIELDS");
                let lit = lit_int(&value, &key)?;
                check_range(&lit, field)?;
                self.numbers.push((field, meta.path.clone(), lit));
            }
        }
        Ok(())
    }
}

impl Args {
    /// The checks across arguments, once all are parsed: each field belongs to the strategy
    /// chosen, `minimum_calls` fits the window, `max_timeout_secs` is not below the open
    /// period. Skipped where a `config = path` base could change the answer.
    pub(crate) fn check(&self) -> syn::Result<()> {
        if self.config.is_some() {
            return Ok(());
        }
        let (strategy, strategy_name) = match &self.failure_strategy {
            Some((lit, _, uses)) => (*uses, lit.value()),
            None => (Uses::Consecutive, "consecutive".to_string()),
        };
        for (field, key, _) in &self.numbers {
            let fits = match field.uses {
                Uses::All => true,
                Uses::Consecutive => strategy == Uses::Consecutive,
                Uses::Windows => strategy != Uses::Consecutive,
                Uses::CountWindow | Uses::TimeWindow => strategy == field.uses,
            };
            if !fits {
                let needs = match field.uses {
                    Uses::Consecutive => "the `consecutive` strategy (the default)",
                    Uses::Windows => "`failure_strategy = \"count_window\"` or `\"time_window\"`",
                    Uses::CountWindow => "`failure_strategy = \"count_window\"`",
                    Uses::TimeWindow => "`failure_strategy = \"time_window\"`",
                    Uses::All => unreachable!("fits every strategy"),
                };
                return Err(syn::Error::new_spanned(
                    key,
                    format!(
                        "`{}` belongs to {needs}, but this breaker uses the `{strategy_name}` strategy",
                        field.key
                    ),
                ));
            }
        }
        let value = |name: &str| {
            self.numbers
                .iter()
                .find(|(f, _, _)| f.field == name)
                .map(|(_, key, lit)| (key, lit.base10_parse::<u64>().unwrap_or(0)))
        };
        if let Some((key, minimum)) = value("minimum_calls") {
            let window = value("window_size").map_or(100, |(_, v)| v);
            if strategy == Uses::CountWindow && minimum > window {
                return Err(syn::Error::new_spanned(
                    key,
                    format!(
                        "`minimum_calls` ({minimum}) cannot exceed the `window_size` ({window})"
                    ),
                ));
            }
        }
        if let Some((key, max)) = value("max_timeout_secs") {
            let timeout = value("timeout_secs").map_or(60, |(_, v)| v);
            if max < timeout {
                return Err(syn::Error::new_spanned(
                    key,
                    format!(
                        "`max_timeout_secs` ({max}) cannot be below `timeout_secs` ({timeout})"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn check_range(lit: &LitInt, field: NumberField) -> syn::Result<()> {
    let in_range = lit
        .base10_parse::<u64>()
        .ok()
        .filter(|v| (field.min..=field.max).contains(v));
    match in_range {
        Some(_) => Ok(()),
        None => Err(syn::Error::new_spanned(
            lit,
            format!(
                "`{}` must be between {} and {}{}",
                field.key,
                field.min,
                field.max,
                if lit.base10_digits() == "0" {
                    "; leave it out for the default"
                } else {
                    ""
                }
            ),
        )),
    }
}

fn lit_str(value: &Expr, key: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` takes a string literal, as in `{key} = \"...\"`"),
        )),
    }
}

fn lit_int(value: &Expr, key: &str) -> syn::Result<LitInt> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) if i.suffix().is_empty() => Ok(i.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` takes an integer literal without a suffix, as in `{key} = 5`"),
        )),
    }
}

fn path(value: &Expr, key: &str) -> syn::Result<Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() => Ok(p.path.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` takes a path to a function, as in `{key} = my_module::my_fn`"),
        )),
    }
}

fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The valid key closest to `key`, if it is close enough to be a typo.
fn nearest(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_nearest_key() {
        assert_eq!(nearest("treshold"), Some("threshold"));
        assert_eq!(nearest("timeout_sec"), Some("timeout_secs"));
        assert_eq!(nearest("fallbak"), Some("fallback"));
        assert_eq!(nearest("colour"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}

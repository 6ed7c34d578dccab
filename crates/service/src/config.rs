//! Loading a daemon's TOML config with environment overrides.
//!
//! One way in, for all three daemons: read the file (or start from an empty table), lay the
//! environment over it, then deserialize into the daemon's own `deny_unknown_fields` structs.
//! An override `HUB_DATABASE__URL=postgres://…` sets `database.url`: the prefix names the
//! daemon, `__` separates nesting levels, and the value is read as a TOML value when it parses
//! as one (`8`, `true`, `["a"]`) and as a plain string otherwise.
//!
//! The environment is read through [`EnvSource`], so tests can give a map instead of touching
//! the process environment (two configs can be loaded side by side in one test process).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Where environment overrides come from.
pub trait EnvSource {
    /// Every `(name, value)` pair whose name starts with `prefix`.
    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with(prefix))
            .collect()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Why a config could not be loaded. Each variant names the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// An environment override conflicts with the shape of the config.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable.
        var: String,
        /// Why it cannot be applied.
        reason: String,
    },
    /// A key is unknown, missing or has the wrong type or value.
    #[error("invalid config{}: {message}", origin.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default())]
    Invalid {
        /// The file, if there was one.
        origin: Option<PathBuf>,
        /// Which key and why.
        message: String,
    },
}

/// Loads a config of type `T` from `path` (or defaults, when `None`) with overrides from `env`
/// for variables named `{env_prefix}_{SECTION}__{KEY}` (e.g. `NSD_SERVER__LISTEN`).
pub fn load<T: DeserializeOwned>(
    path: Option<&Path>,
    env_prefix: &str,
    env: &dyn EnvSource,
) -> Result<T, ConfigError> {
    let mut table = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            text.parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
        }
        None => toml::Table::new(),
    };
    apply_env_overrides(&mut table, env_prefix, env)?;
    // Deserializing from text rather than from the table makes toml's error quote the
    // offending `key = value` line (the table alone would lose the key's name).
    let text = table.to_string();
    toml::from_str(&text).map_err(|e: toml::de::Error| ConfigError::Invalid {
        origin: path.map(Path::to_owned),
        message: without_secret(&e, &text),
    })
}

/// toml's message for `error`, whose excerpt quotes the offending value: withheld when the
/// value is a [`Secret`] (a mistyped master key is still most of a master key).
fn without_secret(error: &toml::de::Error, text: &str) -> String {
    let message = error.to_string().trim_end().to_owned();
    if !error.message().contains(SECRET_WITHHELD) {
        return message;
    }
    match error.span().and_then(|span| text.get(span)) {
        Some(value) if !value.is_empty() => message.replace(value, "<withheld>"),
        _ => error.message().to_owned(),
    }
}

/// What a [`Secret`] that does not parse says instead of its text.
const SECRET_WITHHELD: &str = "text withheld: a secret";

/// The variable `{prefix}_CONFIG` gives the config file's path.
pub const CONFIG_FILE_VAR_SUFFIX: &str = "CONFIG";

/// Lays every `{prefix}_A__B=value` variable over `table` as `a.b = value` (except
/// `{prefix}_CONFIG`, the file's path).
pub fn apply_env_overrides(
    table: &mut toml::Table,
    prefix: &str,
    env: &dyn EnvSource,
) -> Result<(), ConfigError> {
    let var_prefix = format!("{prefix}_");
    let mut vars = env.vars_with_prefix(&var_prefix);
    // Apply in name order so the result does not depend on the environment's iteration order.
    vars.sort();
    for (var, raw) in vars {
        // `{prefix}_CONFIG` names the config file itself (the command line reads it), it
        // is not a key of the file.
        if var[var_prefix.len()..] == *CONFIG_FILE_VAR_SUFFIX {
            continue;
        }
        let path: Vec<String> = var[var_prefix.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                var,
                reason: "empty key segment".into(),
            });
        }
        set_path(table, &path, parse_env_value(&raw)).map_err(|reason| ConfigError::Env {
            var: var.clone(),
            reason,
        })?;
    }
    Ok(())
}

/// Reads an override as a TOML value when it is one, else as a string (so URLs and paths
/// need no quoting).
fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut current = table;
    for (depth, key) in parents.iter().enumerate() {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{}` is not a table", path[..=depth].join(".")))?;
    }
    // A string override of a non-string key (e.g. a number that failed to parse as TOML)
    // is passed on unchanged: deserialization then names the key and the expected type.
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn the_config_file_variable_is_not_an_override() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Small {
            port: u16,
        }
        let env = BTreeMap::from([
            ("X_CONFIG".to_owned(), "/etc/x.toml".to_owned()),
            ("X_PORT".to_owned(), "8".to_owned()),
        ]);
        let small = load::<Small>(None, "X", &env).expect("X_CONFIG is the file, not a key");
        assert_eq!(small.port, 8);
    }

    #[test]
    fn a_secret_that_does_not_parse_is_never_quoted() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct WithSecret {
            key: Secret<u64>,
        }
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("x.toml");
        std::fs::write(&path, "key = \"mistyped-secret-value\"\n").expect("file");
        let error = load::<WithSecret>(Some(&path), "X", &BTreeMap::new())
            .expect_err("not a number")
            .to_string();
        assert!(!error.contains("mistyped-secret-value"), "{error}");
        assert!(
            error.contains("key =") && error.contains(SECRET_WITHHELD),
            "{error}"
        );
        let error = load::<WithSecret>(
            None,
            "X",
            &BTreeMap::from([("X_KEY".to_owned(), "from-the-environment".to_owned())]),
        )
        .expect_err("not a number")
        .to_string();
        assert!(!error.contains("from-the-environment"), "{error}");
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Example {
        server: Server,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Server {
        listen: String,
        workers: u32,
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_file_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:1\"\nworkers = 2\n").unwrap();
        let cfg: Example = load(
            Some(&path),
            "X",
            &env(&[
                ("X_SERVER__WORKERS", "8"),
                ("X_TAGS", "[\"a\", \"b\"]"),
                ("Y_SERVER__WORKERS", "9"),
            ]),
        )
        .unwrap();
        assert_eq!(
            cfg.server,
            Server {
                listen: "127.0.0.1:1".into(),
                workers: 8
            }
        );
        assert_eq!(cfg.tags, vec!["a", "b"]);
    }

    #[test]
    fn unquoted_strings_stay_strings() {
        let cfg: Example = load(
            None,
            "X",
            &env(&[
                ("X_SERVER__LISTEN", "postgres://u@h:5432/db"),
                ("X_SERVER__WORKERS", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.server.listen, "postgres://u@h:5432/db");
    }

    #[test]
    fn errors_name_the_key() {
        let err = load::<Example>(None, "X", &env(&[("X_SERVER__LISTEN", "a")])).unwrap_err();
        assert!(err.to_string().contains("workers"), "{err}");
        let err = load::<Example>(
            None,
            "X",
            &env(&[("X_SERVER__LISTEN", "a"), ("X_SERVER__WORKERS", "many")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("u32") || err.to_string().contains("integer"),
            "{err}"
        );
        let err = load::<Example>(
            None,
            "X",
            &env(&[
                ("X_SERVER__LISTEN", "a"),
                ("X_SERVER__WORKERS", "1"),
                ("X_SERVER__PORT", "1"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }

    #[test]
    fn override_through_a_scalar_is_refused() {
        let err = load::<Example>(None, "X", &env(&[("X_TAGS", "1"), ("X_TAGS__INNER", "2")]))
            .unwrap_err();
        assert!(matches!(err, ConfigError::Env { .. }), "{err}");
    }
}

/// A secret config value: parsed from text, `Debug` redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(pub T);

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de, T> serde::Deserialize<'de> for Secret<T>
where
    T: std::str::FromStr,
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        // The error never quotes the text: it is a secret.
        text.parse()
            .map(Secret)
            .map_err(|_| serde::de::Error::custom(format!("not a valid value ({SECRET_WITHHELD})")))
    }
}

//! The job file: which built-in pipeline to run, its parameters, and the
//! configuration in Flink's keys (flat `a.b.c: v` or nested YAML maps).
//!
//! ```yaml
//! name: keyed-count
//! pipeline: keyed-count
//! params: { keys: 100000, sink: blackhole }
//! config:
//!   execution.checkpointing.interval: 1s
//!   execution.checkpointing.dir: ./ck
//! ```

use crate::config::value::closest;
use crate::error::{Error, Result};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed job file.
#[derive(Debug, Clone)]
pub struct JobFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Job name (`name:`; defaults to the pipeline name).
    pub name: String,
    /// Built-in pipeline.
    pub pipeline: String,
    /// Pipeline parameters.
    pub params: BTreeMap<String, String>,
    /// Configuration pairs, in file order.
    pub config: Vec<(String, String)>,
}

const TOP_LEVEL: &[&str] = &["name", "pipeline", "params", "config"];

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Sequence(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(";")),
        _ => None,
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>, errors: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                let k = scalar(k).unwrap_or_default();
                let key = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out, errors);
            }
        }
        Value::Null => errors.push(format!("config.{prefix}: has no value")),
        other => match scalar(other) {
            Some(s) => out.push((prefix.to_string(), s)),
            None => errors.push(format!("config.{prefix}: expected a scalar value")),
        },
    }
}

/// The job, or one error listing every problem of the file at `path`.
fn strict((job, errors): (JobFile, Vec<String>), path: &Path) -> Result<JobFile> {
    if errors.is_empty() {
        return Ok(job);
    }
    Err(Error::Config(format!(
        "{}:\n  {}",
        path.display(),
        errors.join("\n  ")
    )))
}

impl JobFile {
    /// Reads and parses `path`; an error lists every problem of the file.
    pub fn load(path: &Path) -> Result<Self> {
        strict(Self::load_lenient(path)?, path)
    }

    /// Reads and parses `path`, returning what could be read together with
    /// the file's problems, so that a caller can report them along with those
    /// of its configuration and parameters. Fails only when the file cannot be
    /// read or is not a YAML mapping.
    pub fn load_lenient(path: &Path) -> Result<(Self, Vec<String>)> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("cannot read job file '{}': {e}", path.display()))
        })?;
        Self::parse_lenient(&text, path)
    }

    /// Parses job-file text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        strict(Self::parse_lenient(text, path)?, path)
    }

    /// [`JobFile::load_lenient`] over text.
    pub fn parse_lenient(text: &str, path: &Path) -> Result<(Self, Vec<String>)> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| {
            let loc = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            Error::Config(format!("{}{loc}: malformed YAML: {e}", path.display()))
        })?;
        let Value::Mapping(top) = doc else {
            return Err(Error::Config(format!(
                "{}: expected a mapping with keys {}",
                path.display(),
                TOP_LEVEL.join(", ")
            )));
        };
        let mut errors = Vec::new();
        let mut name = None;
        let mut pipeline = None;
        let mut params = BTreeMap::new();
        let mut config = Vec::new();
        for (k, v) in &top {
            let k = scalar(k).unwrap_or_default();
            match k.as_str() {
                "name" => name = scalar(v),
                "pipeline" => pipeline = scalar(v),
                "params" => match v {
                    Value::Mapping(m) => {
                        for (pk, pv) in m {
                            let pk = scalar(pk).unwrap_or_default();
                            match scalar(pv) {
                                Some(s) => {
                                    params.insert(pk, s);
                                }
                                None => {
                                    errors.push(format!("params.{pk}: expected a scalar value"))
                                }
                            }
                        }
                    }
                    Value::Null => {}
                    _ => errors.push("params: expected a mapping of parameter: value".into()),
                },
                "config" => match v {
                    Value::Null => {}
                    Value::Mapping(_) => flatten("", v, &mut config, &mut errors),
                    _ => errors.push("config: expected a mapping of key: value".into()),
                },
                other => {
                    let hint = closest(other, TOP_LEVEL.iter().copied())
                        .map(|c| format!(" (did you mean '{c}'?)"))
                        .unwrap_or_default();
                    errors.push(format!(
                        "unknown top-level key '{other}'{hint}: allowed are {}",
                        TOP_LEVEL.join(", ")
                    ));
                }
            }
        }
        let pipeline = match pipeline {
            Some(p) => p,
            None => {
                errors.push(
                    "missing 'pipeline:' (the built-in pipeline to run; see `tidemark pipelines`)"
                        .into(),
                );
                String::new()
            }
        };
        let job = Self {
            path: path.to_path_buf(),
            name: name.unwrap_or_else(|| pipeline.clone()),
            pipeline,
            params,
            config,
        };
        Ok((job, errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_config_is_flattened_and_errors_have_locations() {
        let j = JobFile::parse(
            "name: a\npipeline: keyed-count\nparams: {keys: 5}\nconfig:\n  execution:\n    checkpointing.interval: 1s\n  parallelism.default: 2\n",
            Path::new("j.yaml"),
        )
        .unwrap();
        assert_eq!(
            j.config,
            vec![
                (
                    "execution.checkpointing.interval".to_string(),
                    "1s".to_string()
                ),
                ("parallelism.default".to_string(), "2".to_string())
            ]
        );
        assert_eq!(j.params["keys"], "5");
        let e = JobFile::parse("pipeline: x\nconfig: [\n", Path::new("j.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("j.yaml:3:1: malformed YAML") || e.contains("j.yaml:2:"),
            "{e}"
        );
        let e = JobFile::parse("pipeline: x\nparms: {}\n", Path::new("j.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown top-level key 'parms' (did you mean 'params'?)"),
            "{e}"
        );
    }
}

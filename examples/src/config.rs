//! The example workers' configuration file: `key = value` lines, `#` comments.
//!
//! Small on purpose: it exists so that SIGHUP has something to reload.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};

/// Reads `path`; a malformed line is an error naming the line.
pub fn load(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    parse(&text).with_context(|| format!("in {}", path.display()))
}

fn parse(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut config = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: expected `key = value`, got {line:?}", number + 1);
        };
        config.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_skips_comments() {
        let config = parse("# c\ngreeting = bonjour\n\nworkers=3\n").unwrap();
        assert_eq!(config["greeting"], "bonjour");
        assert_eq!(config["workers"], "3");
        assert!(parse("oops\n").unwrap_err().to_string().contains("line 1"));
    }
}

//! Where the host names come from: `--hosts web1,web2`, `--hosts @file`, `--hosts -`.
//!
//! A host name is substituted into the transport's command line as one word, so it
//! must never be able to become an option of that transport: names that start with
//! `-` or hold whitespace or control characters are refused here.

use std::io::Read;

use anyhow::{bail, Context};

/// Every host named by `sources`, in order, without repeats.
pub fn collect(sources: &[String]) -> anyhow::Result<Vec<String>> {
    let mut hosts: Vec<String> = Vec::new();
    for source in sources {
        let text = if source == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the host list from stdin")?;
            text
        } else if let Some(path) = source.strip_prefix('@') {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the host list {path:?}"))?
        } else {
            source.clone()
        };
        for host in names(&text) {
            check(host)?;
            if !hosts.iter().any(|known| known == host) {
                hosts.push(host.to_owned());
            }
        }
    }
    if hosts.is_empty() {
        bail!("the host list is empty; name hosts with --hosts a,b, --hosts @FILE or --hosts -");
    }
    Ok(hosts)
}

/// The names in a list: separated by commas, spaces or lines; `#` starts a comment.
fn names(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .flat_map(|line| line.split([',', ' ', '\t']))
        .map(str::trim)
        .filter(|name| !name.is_empty())
}

fn check(host: &str) -> anyhow::Result<()> {
    if host.starts_with('-') {
        bail!("{host:?} is not a host name: it would be read as an option of the transport");
    }
    if host.chars().any(|c| c.is_control() || c.is_whitespace()) {
        bail!("{host:?} is not a host name: it holds whitespace or control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_commas_lines_and_comments() {
        let text = "web1,web2\n# the canaries\nweb3 web1  # again\n\n";
        assert_eq!(
            names(text).collect::<Vec<_>>(),
            ["web1", "web2", "web3", "web1"]
        );
        assert_eq!(
            collect(&[text.to_owned()]).unwrap(),
            ["web1", "web2", "web3"]
        );
    }

    #[test]
    fn names_that_could_be_options_are_refused() {
        assert!(collect(&["-oProxyCommand=sh".to_owned()]).is_err());
        assert!(collect(&["a\u{1b}b".to_owned()]).is_err());
        assert!(collect(&[",".to_owned()]).is_err());
    }
}

//! How a command reaches another machine or pod: a command-line template with a
//! `{host}` (or `{pod}`) word, run here, that runs `attach` there.
//!
//! ssh joins the words it is given into one line for the remote shell, so for ssh
//! every remote word is shell-quoted; other transports (`kubectl exec`, `docker exec`,
//! `nsenter`) pass their words on as argv, so quoting them would corrupt them. The
//! host is substituted into one word of the split template, never re-split, so a host
//! name cannot add words to the command.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

/// A transport: the words to run here, for one-shot use and for a terminal.
#[derive(Debug, Clone)]
pub struct Transport {
    batch: Vec<String>,
    tty: Vec<String>,
    /// The far side parses one shell line (ssh), not argv.
    shell: bool,
}

const PLACEHOLDERS: [&str; 2] = ["{host}", "{pod}"];

impl Transport {
    /// `--via TEMPLATE`: split like a shell would; it must contain `{host}` or `{pod}`.
    pub fn via(template: &str) -> anyhow::Result<Transport> {
        let words = shlex::split(template)
            .with_context(|| format!("--via {template:?} has an unclosed quote"))?;
        if !words
            .iter()
            .any(|word| PLACEHOLDERS.iter().any(|p| word.contains(p)))
        {
            bail!("--via {template:?} does not say where the host goes: put {{host}} (or {{pod}}) in it, e.g. --via 'ssh {{host}}'");
        }
        let shell = Path::new(&words[0]).file_name() == Some("ssh".as_ref());
        Ok(Transport {
            batch: words.clone(),
            tty: words,
            shell,
        })
    }

    /// `--ssh`: no password prompts in fan-out (BatchMode), a terminal when interactive.
    pub fn ssh() -> Transport {
        Transport {
            batch: words(&["ssh", "-T", "-o", "BatchMode=yes", "{host}"]),
            tty: words(&["ssh", "-t", "{host}"]),
            shell: true,
        }
    }

    /// `--kubectl`: `kubectl exec -i POD --`, with `-t` when interactive.
    pub fn kubectl() -> Transport {
        Transport {
            batch: words(&["kubectl", "exec", "-i", "{pod}", "--"]),
            tty: words(&["kubectl", "exec", "-it", "{pod}", "--"]),
            shell: false,
        }
    }

    /// The program that carries the command, for messages (`ssh`, `kubectl`...).
    pub fn name(&self) -> &str {
        &self.batch[0]
    }

    /// True for ssh, whose exit status 255 means it could not reach the host.
    pub fn is_ssh(&self) -> bool {
        self.shell
    }

    /// The command that runs `remote` (an attach command line) on `host`.
    pub fn command(&self, host: &str, remote: &[String], tty: bool) -> anyhow::Result<Command> {
        let template = if tty { &self.tty } else { &self.batch };
        let mut words = template.iter().map(|word| {
            PLACEHOLDERS
                .iter()
                .fold(word.clone(), |word, p| word.replace(p, host))
        });
        let mut command = Command::new(words.next().expect("a template has a program"));
        command.args(words);
        for word in remote {
            if self.shell {
                let quoted = shlex::try_quote(word)
                    .map_err(|_| anyhow::anyhow!("{word:?} cannot be passed through a shell"))?;
                command.arg(quoted.as_ref());
            } else {
                command.arg(word);
            }
        }
        Ok(command)
    }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|word| word.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(command: &Command) -> Vec<String> {
        std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|word| word.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn ssh_quotes_every_remote_word() {
        let remote = words(&["attach", "-e", "x + 1; `rm -rf /` $HOME 'q'"]);
        let command = Transport::via("ssh -p 2222 {host}")
            .unwrap()
            .command("web1", &remote, false)
            .unwrap();
        let line = argv(&command);
        assert_eq!(line[..4], ["ssh", "-p", "2222", "web1"]);
        assert_eq!(
            shlex::split(&line[4..].join(" ")).unwrap(),
            remote,
            "the remote shell sees the words we meant"
        );
    }

    #[test]
    fn exec_transports_pass_words_unquoted() {
        let remote = words(&["attach", "-e", "a b"]);
        let command = Transport::kubectl()
            .command("api-0", &remote, true)
            .unwrap();
        assert_eq!(
            argv(&command),
            ["kubectl", "exec", "-it", "api-0", "--", "attach", "-e", "a b"]
        );
        let nsenter = Transport::via("nsenter -t {pod} -p -m --").unwrap();
        assert!(!nsenter.is_ssh());
        assert_eq!(
            argv(&nsenter.command("42", &remote, false).unwrap())[2],
            "42"
        );
    }

    #[test]
    fn a_template_must_say_where_the_host_goes() {
        assert!(Transport::via("ssh web1").is_err());
        assert!(Transport::via("ssh '{host}").is_err());
    }
}

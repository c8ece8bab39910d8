//! The two command lines whose start-up is measured against other tools
//! (BENCHMARKS.md, section 3), read without clap: `attach --version` (recognised in
//! `main` from the C arguments, before anything else) and a plain one-shot,
//! `attach TARGET -e EXPR` or `attach TARGET WORDS…`.
//!
//! Building clap's command touches its code for every option: about 20 more page
//! faults and 50 µs of a one-shot that takes about 1 ms. These forms have no option
//! to validate, so they are read here, with clap's meaning; anything else (any other
//! option, a word clap would take for one) goes to clap, which also gives every
//! error and `--help`. A test checks each form against clap's own reading.

/// True for the one argument of `attach --version` (`--version` or `-V`).
pub fn is_version(word: &[u8]) -> bool {
    matches!(word, b"--version" | b"-V")
}

/// A plain one-shot: run `line` once in `target` (a pid or a process name), with
/// every default.
#[derive(Debug, PartialEq, Eq)]
pub struct OneShot<'a> {
    /// The TARGET argument.
    pub target: &'a str,
    /// `EXPR` of `-e`, or the trailing words joined by spaces.
    pub line: String,
}

/// Reads `argv` (program name first) if it is a plain one-shot.
pub fn read(argv: &[String]) -> Option<OneShot<'_>> {
    let words: Vec<&str> = argv.get(1..)?.iter().map(String::as_str).collect();
    match words.as_slice() {
        [target, "-e" | "--eval", expr] if plain(target) && plain(expr) => Some(OneShot {
            target,
            line: (*expr).to_owned(),
        }),
        [target, first, rest @ ..] if plain(target) && plain(first) => Some(OneShot {
            target,
            line: [&[*first][..], rest].concat().join(" "),
        }),
        _ => None,
    }
}

/// A word clap reads as a value wherever it stands: not empty, not an option.
fn plain(word: &str) -> bool {
    !word.is_empty() && !word.starts_with('-')
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::{parse_seconds, Args, DEFAULT_TIMEOUT};

    fn argv(words: &[&str]) -> Vec<String> {
        std::iter::once("attach")
            .chain(words.iter().copied())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn quick_forms_mean_what_clap_reads() {
        let forms: &[&[&str]] = &[
            &["4242", "-e", "1+1"],
            &["http-worker", "--eval", "mem().rss_kib"],
            &["4242", "p", "requests_served"],
            &["4242", "p", "-1"],
            &["4242", "threads()", "--json"],
            &["4242", "-e", "a b  c"],
            &["4242", "x", "-e", "y"],
        ];
        for words in forms {
            let argv = argv(words);
            let Some(OneShot { target, line }) = read(&argv) else {
                panic!("{words:?} is a quick one-shot");
            };
            let args = Args::try_parse_from(&argv).unwrap();
            assert_eq!(args.target.as_deref(), Some(target), "{words:?}");
            assert_eq!(args.one_shot(), Some(line), "{words:?}");
            assert!(!args.list && !args.all && !args.json, "{words:?}");
            assert!(args.uid.is_none() && args.watch.is_none() && args.signal.is_none());
            assert_eq!(Ok(args.timeout), parse_seconds(DEFAULT_TIMEOUT));
            assert!(crate::fleet::Fleet::from_args(&args.fleet)
                .unwrap()
                .is_none());
        }
    }

    #[test]
    fn everything_else_goes_to_clap() {
        let forms: &[&[&str]] = &[
            &[],
            &["4242"],
            &["--list"],
            &["--help"],
            &["-e", "1", "4242"],
            &["4242", "-e", "-1"],
            &["4242", "-e"],
            &["4242", "--json", "-e", "1"],
            &["4242", "-e", "1", "--json"],
            &["4242", "--watch", "x"],
            &["--all", "w", "-e", "1"],
            &["-", "x"],
            &["", "x"],
            &["--version", "x"],
        ];
        for words in forms {
            assert_eq!(read(&argv(words)), None, "{words:?}");
        }
    }

    #[test]
    fn version_is_what_clap_prints() {
        for word in ["--version", "-V"] {
            assert!(is_version(word.as_bytes()), "{word}");
            let asked = Args::command().try_get_matches_from(argv(&[word]));
            let shown = asked.expect_err("clap prints the version and stops");
            assert_eq!(
                shown.kind(),
                clap::error::ErrorKind::DisplayVersion,
                "{word}"
            );
        }
        assert!(!is_version(b"--versions") && !is_version(b"-v"));
        let clap_says = Args::command().render_version();
        assert_eq!(clap_says, crate::VERSION_LINE);
    }
}

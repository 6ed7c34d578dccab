//! The hub's console subcommands, beside serving (the shared [`service::cli`] runs them):
//!
//! - `hub hash-token`: reads a bearer token from stdin (one line; the trailing newline is
//!   not part of it) and prints the lower-case hex SHA-256 to write as `token_sha256` in a
//!   members file or `[[operators]]`, so the token itself stays out of every file. Same as
//!   `printf %s "$TOKEN" | sha256sum`, without the chance of hashing a newline with it.

use std::io::Read;
use std::process::ExitCode;

use service::auth::TokenDigest;
use service::cli::clap::{ArgMatches, Command};

use crate::members::file::MIN_TOKEN_LEN;

/// `hash-token`.
const HASH_TOKEN: &str = "hash-token";

/// The subcommands, for the shared command line.
pub fn subcommands() -> Vec<Command> {
    vec![Command::new(HASH_TOKEN).about(
        "Read a bearer token from stdin (one line) and print its SHA-256 (hex), \
         for token_sha256 in the members file or [[operators]]",
    )]
}

/// Runs subcommand `name`: its exit code; output on stdout, errors on stderr.
pub fn run(name: &str, _args: &ArgMatches) -> ExitCode {
    if name != HASH_TOKEN {
        eprintln!("hub: no subcommand {name:?}");
        return ExitCode::FAILURE;
    }
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("hub {HASH_TOKEN}: cannot read stdin: {e}");
        return ExitCode::FAILURE;
    }
    match hash_token(&input) {
        Ok(hex) => {
            println!("{hex}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("hub {HASH_TOKEN}: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// The digest of the token in `input`: one line, its line ending (`\n` or `\r\n`) dropped.
/// Refused when empty, several lines, or shorter than a token the hub accepts in clear: the
/// digest hides the length, so it is checked here.
pub fn hash_token(input: &str) -> Result<String, String> {
    let token = input
        .strip_suffix('\n')
        .map_or(input, |line| line.strip_suffix('\r').unwrap_or(line));
    if token.contains(['\n', '\r']) {
        return Err("one line expected: the token alone".into());
    }
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "the token has {} characters: at least {MIN_TOKEN_LEN} are needed",
            token.len()
        ));
    }
    Ok(TokenDigest::of(token).to_hex())
}

#[cfg(test)]
mod tests {
    use super::hash_token;

    /// `printf %s token-a-xxxxxxxxxx | sha256sum`
    const DIGEST_A: &str = "25ecf86fa954bbbc08cb8d73a410b370f91cc03431d26e9fb174ce54169118c8";

    #[test]
    fn the_line_ending_is_not_part_of_the_token() {
        for input in [
            "token-a-xxxxxxxxxx",
            "token-a-xxxxxxxxxx\n",
            "token-a-xxxxxxxxxx\r\n",
        ] {
            assert_eq!(hash_token(input).as_deref(), Ok(DIGEST_A), "{input:?}");
        }
        assert!(hash_token("token-a-xxxxxxxxxx\n\n").is_err());
        assert!(hash_token("token-a-xxxxxxxxxx\nsecond-line-xxxxx").is_err());
        assert!(hash_token("short\n").is_err_and(|e| e.contains("at least 16")));
        assert!(hash_token("").is_err());
    }
}

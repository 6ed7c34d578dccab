//! The hub's console subcommands, beside serving (the shared [`service::cli`] runs them):
//!
//! - `hub hash-token`: reads a bearer token from stdin (one line; the trailing newline is
//!   not part of it) and prints the lower-case hex SHA-256 to write as `token_sha256` in a
//!   members file or `[[operators]]`, so the token itself stays out of every file. Same as
//!   `printf %s "$TOKEN" | sha256sum`, without the chance of hashing a newline with it.
//! - `hub seal-token`: reads the bearer token the hub presents to a member from stdin (one
//!   line, as above: never from the command line, which `ps` shows) and prints it sealed
//!   under the master key of the hub config's `[keys]` (or `HUB_KEYS__MASTER_KEY`), to
//!   write as `outbound_token_sealed` in a members file.

use std::io::Read;
use std::process::ExitCode;

use service::auth::TokenDigest;
use service::cli::clap::{ArgMatches, Command};
use service::sealing::Keyring;

use crate::members::file::MIN_TOKEN_LEN;
use crate::Config;

/// `hash-token`.
const HASH_TOKEN: &str = "hash-token";
/// `seal-token`.
const SEAL_TOKEN: &str = "seal-token";

/// The subcommands, for the shared command line.
pub fn subcommands() -> Vec<Command> {
    vec![
        Command::new(HASH_TOKEN).about(
            "Read a bearer token from stdin (one line) and print its SHA-256 (hex), \
             for token_sha256 in the members file or [[operators]]",
        ),
        Command::new(SEAL_TOKEN).about(
            "Read the bearer token the hub presents to a member from stdin (one line) and \
             print it sealed under the [keys] master key (or HUB_KEYS__MASTER_KEY), \
             for outbound_token_sealed in the members file",
        ),
    ]
}

/// Runs subcommand `name` with the hub's `config`: its exit code; output on stdout, errors
/// on stderr.
pub fn run(name: &str, _args: &ArgMatches, config: &Config) -> ExitCode {
    let command: fn(&str, &Config) -> Result<String, String> = match name {
        HASH_TOKEN => |input, _| hash_token(input),
        SEAL_TOKEN => |input, config| {
            let keyring = config.keyring().map_err(|e| e.to_string())?;
            seal_token(input, keyring.as_ref())
        },
        _ => {
            eprintln!("hub: no subcommand {name:?}");
            return ExitCode::FAILURE;
        }
    };
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("hub {name}: cannot read stdin: {e}");
        return ExitCode::FAILURE;
    }
    match command(&input, config) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("hub {name}: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// The digest of the token in `input`: one line, its line ending (`\n` or `\r\n`) dropped.
/// Refused when empty, several lines, or shorter than a token the hub accepts in clear: the
/// digest hides the length, so it is checked here.
pub fn hash_token(input: &str) -> Result<String, String> {
    let token = one_line(input)?;
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "the token has {} characters: at least {MIN_TOKEN_LEN} are needed",
            token.len()
        ));
    }
    Ok(TokenDigest::of(token).to_hex())
}

/// The token in `input` (one line, as for [`hash_token`]) sealed under the current key of
/// `keyring`, as `outbound_token_sealed` takes it. The member chose the token, so its length
/// is not checked beyond not being empty.
pub fn seal_token(input: &str, keyring: Option<&Keyring>) -> Result<String, String> {
    let keyring = keyring.ok_or(
        "no master key: set [keys] master_key in the hub config or HUB_KEYS__MASTER_KEY \
         (the one the hub runs with)",
    )?;
    let token = one_line(input)?;
    if token.is_empty() {
        return Err("the token is empty".into());
    }
    keyring
        .seal_secret(token.as_bytes())
        .map(|sealed| sealed.to_string())
        .map_err(|e| e.to_string())
}

/// `input` without its line ending; refused when it holds more than one line.
fn one_line(input: &str) -> Result<&str, String> {
    let line = input
        .strip_suffix('\n')
        .map_or(input, |line| line.strip_suffix('\r').unwrap_or(line));
    if line.contains(['\n', '\r']) {
        return Err("one line expected: the token alone".into());
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::{hash_token, seal_token};
    use service::sealing::{Keyring, MasterKey, SealedSecret};

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

    #[test]
    fn a_sealed_token_opens_to_the_line_without_its_ending() {
        let master: MasterKey = "000102030405060708090a0b0c0d0e0f".parse().expect("key");
        let keyring = Keyring::new(master, vec![]).expect("keyring");
        for input in ["outbound-token\n", "outbound-token\r\n", "outbound-token"] {
            let text = seal_token(input, Some(&keyring)).expect("sealed");
            let sealed: SealedSecret = text.parse().expect("sealed text");
            assert_eq!(
                keyring.unseal_secret(&sealed),
                Ok(b"outbound-token".to_vec())
            );
        }
        assert!(seal_token("\n", Some(&keyring)).is_err_and(|e| e.contains("empty")));
        assert!(seal_token("a\nb\n", Some(&keyring)).is_err_and(|e| e.contains("one line")));
        assert!(seal_token("outbound-token\n", None).is_err_and(|e| e.contains("[keys]")));
    }
}

//! `mastctl workload token`: a workload token signed with mastd's key, read from mastd's state
//! directory (`<stateDir>/token/signing-key.pem`). The claims are
//! [`mast_xds::ca::TokenClaims`]: `iss` mastd, `sub` `system:serviceaccount:NS:SA`, `aud`
//! istio-ca, `iat`, `nbf`, `exp`; ES256.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mast_xds::ca::{TOKEN_KEY_FILE, TokenClaims, default_state_dir};

use crate::cli::{Exit, TokenArgs};

/// Parses `90s`, `30m`, `1h`, `7d` (or a bare number of seconds) into seconds.
pub fn parse_ttl(s: &str) -> Result<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .with_context(|| format!("invalid --ttl {s:?} (e.g. 90s, 30m, 1h, 7d)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => bail!("invalid --ttl unit in {s:?} (use s, m, h or d)"),
    };
    if n == 0 {
        bail!("--ttl must be more than zero");
    }
    Ok(n * mult)
}

fn check_name(what: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.contains([':', '/']) || v.chars().any(char::is_whitespace) {
        bail!("invalid {what} {v:?}: it must be non-empty, without ':', '/' or spaces");
    }
    Ok(())
}

/// Mints and prints the token.
pub fn run(args: &TokenArgs) -> Result<Exit> {
    check_name("namespace", &args.namespace)?;
    check_name("service account", &args.service_account)?;
    let ttl = parse_ttl(&args.ttl)?;
    let dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
    let path = dir.join(TOKEN_KEY_FILE);
    let pem = std::fs::read(&path).with_context(|| {
        format!(
            "reading mastd's token signing key {} (mastd makes it on its first start; pass \
             --stateDir if mastd runs with another state directory)",
            path.display()
        )
    })?;
    let key = EncodingKey::from_ec_pem(&pem)
        .with_context(|| format!("{}: not an ECDSA P-256 PKCS#8 key", path.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = TokenClaims::new(&args.namespace, &args.service_account, now, ttl);
    let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key)
        .context("signing the token")?;
    println!("{token}");
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("90s").unwrap(), 90);
        assert_eq!(parse_ttl("30m").unwrap(), 1800);
        assert_eq!(parse_ttl("1h").unwrap(), 3600);
        assert_eq!(parse_ttl("7d").unwrap(), 7 * 86400);
        assert_eq!(parse_ttl("120").unwrap(), 120);
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("namespace", "default").is_ok());
        assert!(check_name("namespace", "").is_err());
        assert!(check_name("namespace", "a:b").is_err());
        assert!(check_name("namespace", "a/b").is_err());
    }
}

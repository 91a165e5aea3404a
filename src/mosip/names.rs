//! Names of the Secrets the operator writes, and label values.
//!
//! Every name is a valid DNS-1123 subdomain (lowercase letters, digits, `-` and `.`, at most 253
//! characters), whatever the inputs. Names are readable when the inputs allow it and never
//! collide when they differ:
//!
//! - When every input is already a "plain" name part — lowercase letters and digits in groups
//!   joined by single hyphens, e.g. `mpartner-default-auth` — and the result fits, the name is
//!   built from the inputs alone. Parts are joined with `.`, which plain parts never contain, so
//!   the parts can be read back unambiguously: partner `a-b` with policy `c` and partner `a` with
//!   policy `b-c` give `a-b.c.<label>` and `a.b-c.<label>`.
//! - Otherwise (uppercase, spaces, underscores, dots, `--`, too long) each part is lowercased,
//!   other characters become `-`, the result is shortened if needed, and `--` plus 16 hex
//!   characters of a SHA-256 of the exact inputs is appended. Names built without a hash never
//!   contain `--`, so the two forms cannot meet: `Key A` and `key-a` give different names.

use sha2::{Digest, Sha256};

/// Longest Kubernetes object name (DNS-1123 subdomain).
pub const MAX_NAME_LEN: usize = 253;
/// Longest Kubernetes label value.
pub const MAX_LABEL_VALUE_LEN: usize = 63;

const HASH_LEN: usize = 16;
const HASH_MARK: &str = "--";

/// The Secret holding one API key: `<partner>.<policy>.<label>`, e.g.
/// `mpartner-default-auth.mpolicy-default-auth.default`, or a sanitised form ending in
/// `--<hash>` when an input is not a plain name part (see the module documentation).
pub fn api_key_secret_name(partner_name: &str, policy_name: &str, label: &str) -> String {
    compose("api-key", &[partner_name, policy_name, label], "")
}

/// The Secret holding a partner's MOSIP re-signed certificate: `<partner>-mosip-signed`.
pub fn signed_certificate_secret_name(partner_name: &str) -> String {
    compose("signed-certificate", &[partner_name], "-mosip-signed")
}

/// The Secret holding a MISP licence key: `<name>-license`.
pub fn license_secret_name(license_name: &str) -> String {
    compose("license", &[license_name], "-license")
}

/// A valid Kubernetes label value for `s` (at most 63 characters of `[A-Za-z0-9._-]`, starting
/// and ending with a letter or digit, or empty). A value that is already valid and does not
/// contain `--` is returned unchanged; otherwise invalid characters become `-`, the value is
/// shortened if needed and `--` plus 16 hex characters of a SHA-256 of `s` is appended.
pub fn label_value(s: &str) -> String {
    if is_valid_label_value(s) && !s.contains(HASH_MARK) {
        return s.to_string();
    }
    let mut body = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c } else { '-' };
        if c == '-' && body.ends_with('-') {
            continue;
        }
        body.push(c);
    }
    let max_body = MAX_LABEL_VALUE_LEN - HASH_MARK.len() - HASH_LEN;
    let body = trim_non_alnum(crate::api::truncate_at_char(&body, max_body));
    let body = if body.is_empty() { "x" } else { body };
    format!("{body}{HASH_MARK}{}", short_hash("label-value", &[s]))
}

/// Whether `s` is a valid DNS-1123 subdomain, i.e. a valid name for most Kubernetes objects.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.split('.').all(|segment| {
            let b = segment.as_bytes();
            !b.is_empty()
                && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// Whether `s` is a valid Kubernetes label value.
pub fn is_valid_label_value(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let b = s.as_bytes();
    b.len() <= MAX_LABEL_VALUE_LEN
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Lowercase letters and digits in groups joined by single hyphens.
fn is_plain_part(s: &str) -> bool {
    !s.is_empty()
        && s.split('-')
            .all(|group| !group.is_empty() && group.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
}

/// A plain part made from anything: lowercased, other characters → `-`, runs of `-` collapsed,
/// no `-` at the ends; `x` when nothing is left.
fn sanitize_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "x".to_string() } else { out }
}

fn compose(kind: &str, parts: &[&str], suffix: &str) -> String {
    if parts.iter().all(|p| is_plain_part(p)) {
        let name = format!("{}{suffix}", parts.join("."));
        if name.len() <= MAX_NAME_LEN {
            return name;
        }
    }
    let body = parts.iter().map(|p| sanitize_part(p)).collect::<Vec<_>>().join(".");
    let max_body = MAX_NAME_LEN - suffix.len() - HASH_MARK.len() - HASH_LEN;
    let body = crate::api::truncate_at_char(&body, max_body).trim_end_matches(['-', '.']);
    let body = if body.is_empty() { "x" } else { body };
    format!("{body}{suffix}{HASH_MARK}{}", short_hash(kind, parts))
}

fn trim_non_alnum(s: &str) -> &str {
    s.trim_matches(|c: char| !c.is_ascii_alphanumeric())
}

/// 16 hex characters of a SHA-256 over the kind and the exact inputs, length-prefixed so that
/// different splits of the same text hash differently.
fn short_hash(kind: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    for part in parts {
        hasher.update(b"\0");
        hasher.update(part.len().to_string().as_bytes());
        hasher.update(b":");
        hasher.update(part.as_bytes());
    }
    let mut hex = hex::encode(hasher.finalize());
    hex.truncate(HASH_LEN);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const AWKWARD: &[&str] = &[
        "",
        "a",
        "A",
        "Key A",
        "key-a",
        "key_a",
        "key.a",
        "key--a",
        "-key-",
        "  ",
        "___",
        "日本語",
        "ключ",
        "x.y",
        "UPPER_lower.Mixed-123",
        "a\tb\nc",
        "--",
        ".",
        "..",
        "9",
    ];

    fn long(n: usize) -> String {
        "abcdefghij".repeat(n / 10 + 1)[..n].to_string()
    }

    #[test]
    fn plain_inputs_give_readable_names() {
        assert_eq!(
            api_key_secret_name("mpartner-default-auth", "mpolicy-default-auth", "default"),
            "mpartner-default-auth.mpolicy-default-auth.default"
        );
        assert_eq!(signed_certificate_secret_name("mpartner-default-auth"), "mpartner-default-auth-mosip-signed");
        assert_eq!(license_secret_name("esignet"), "esignet-license");
    }

    #[test]
    fn label_case_and_separator_variants_do_not_collide() {
        let names: Vec<String> = ["Key A", "key-a", "key_a", "KEY-A", "key a", "key  a", "key.a", "key--a"]
            .iter()
            .map(|l| api_key_secret_name("p", "pol", l))
            .collect();
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(names[1], "p.pol.key-a");
        assert!(names[0].starts_with("p.pol.key-a--"), "{}", names[0]);
        for n in &names {
            assert!(is_dns1123_subdomain(n), "{n}");
        }
    }

    #[test]
    fn parts_cannot_shift_between_inputs() {
        assert_ne!(api_key_secret_name("a-b", "c", "d"), api_key_secret_name("a", "b-c", "d"));
        assert_ne!(api_key_secret_name("a", "b", "c-d"), api_key_secret_name("a", "b-c", "d"));
        // Dots inside inputs force the hashed form, so they cannot fake a separator.
        assert_ne!(api_key_secret_name("a.b", "c", "d"), api_key_secret_name("a", "b.c", "d"));
        assert_ne!(api_key_secret_name("a", "b", "c.d"), api_key_secret_name("a", "b.c", "d"));
        assert!(api_key_secret_name("a.b", "c", "d").contains("--"));
    }

    #[test]
    fn kinds_do_not_collide() {
        // A label that spells another kind's suffix still gives a distinct name.
        let signed = signed_certificate_secret_name("p");
        let license = license_secret_name("p-mosip-signed");
        assert_ne!(signed, license);
        assert_ne!(api_key_secret_name("p", "q", "r-license"), license_secret_name("p.q.r"));
        assert!(license_secret_name("p.q.r").contains("--"));
    }

    #[test]
    fn all_names_are_valid_and_distinct() {
        let mut seen = HashSet::new();
        let mut count = 0;
        for p in AWKWARD {
            for q in AWKWARD {
                for l in AWKWARD {
                    let n = api_key_secret_name(p, q, l);
                    assert!(is_dns1123_subdomain(&n), "{p:?} {q:?} {l:?} → {n}");
                    assert!(seen.insert(n.clone()), "collision on {n}");
                    count += 1;
                }
            }
            for n in [signed_certificate_secret_name(p), license_secret_name(p)] {
                assert!(is_dns1123_subdomain(&n), "{p:?} → {n}");
                assert!(seen.insert(n.clone()), "collision on {n}");
                count += 1;
            }
        }
        assert_eq!(seen.len(), count);
    }

    #[test]
    fn long_inputs_are_shortened_with_a_hash() {
        let p = long(253);
        let n = signed_certificate_secret_name(&p);
        assert!(n.len() <= MAX_NAME_LEN, "{}", n.len());
        assert!(is_dns1123_subdomain(&n), "{n}");
        assert!(n.contains("-mosip-signed--"), "{n}");
        assert_ne!(n, signed_certificate_secret_name(&long(252)));

        // Exactly at the limit: unchanged.
        let fits = long(MAX_NAME_LEN - "-license".len());
        assert_eq!(license_secret_name(&fits), format!("{fits}-license"));
        assert_eq!(license_secret_name(&fits).len(), MAX_NAME_LEN);
        let over = long(MAX_NAME_LEN - "-license".len() + 1);
        let n = license_secret_name(&over);
        assert!(n.len() <= MAX_NAME_LEN && n.contains("--"), "{n}");

        for (a, b, c) in [(long(200), long(200), "x".to_string()), (long(253), long(253), long(36))] {
            let n = api_key_secret_name(&a, &b, &c);
            assert!(is_dns1123_subdomain(&n), "{n}");
        }
        // Long inputs that differ only at the end still differ.
        let a = api_key_secret_name(&long(250), "pol", "label-1");
        let b = api_key_secret_name(&long(250), "pol", "label-2");
        assert_ne!(a, b);
        // Truncation right after a separator does not leave a dangling '.' or '-'.
        for n in 230..240 {
            let name = api_key_secret_name(&long(n), "b", "c");
            assert!(is_dns1123_subdomain(&name), "{name}");
        }
    }

    #[test]
    fn names_are_deterministic() {
        assert_eq!(api_key_secret_name("p", "q", "Key A"), api_key_secret_name("p", "q", "Key A"));
        // Pinned so that upgrades do not rename Secrets.
        assert_eq!(
            api_key_secret_name("p", "q", "Key A"),
            format!("p.q.key-a--{}", short_hash("api-key", &["p", "q", "Key A"]))
        );
    }

    #[test]
    fn label_values() {
        assert_eq!(label_value(""), "");
        assert_eq!(label_value("mpartner-default-auth"), "mpartner-default-auth");
        assert_eq!(label_value("Auth_Partner"), "Auth_Partner");
        assert_eq!(label_value("v1.2"), "v1.2");
        let l63 = long(63);
        assert_eq!(label_value(&l63), l63);

        let l64 = long(64);
        let v = label_value(&l64);
        assert!(is_valid_label_value(&v) && v.len() <= 63 && v.contains("--"), "{v}");
        assert_ne!(v, label_value(&long(65)));

        let mut seen = HashSet::new();
        for s in AWKWARD.iter().copied().chain(["Key A", "Key-A", "key a", "a--b", "a-b", "-a", "a-", "_a_"]) {
            let v = label_value(s);
            assert!(is_valid_label_value(&v), "{s:?} → {v}");
            seen.insert((s.to_string(), v));
        }
        let values: HashSet<&String> = seen.iter().map(|(_, v)| v).collect();
        assert_eq!(values.len(), seen.len(), "collision among {seen:?}");
    }

    #[test]
    fn validity_checkers() {
        assert!(is_dns1123_subdomain("a.b-c.d"));
        assert!(!is_dns1123_subdomain(""));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(!is_dns1123_subdomain("a-"));
        assert!(!is_dns1123_subdomain("A"));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
        assert!(is_valid_label_value(""));
        assert!(is_valid_label_value("A_b.c-1"));
        assert!(!is_valid_label_value("_a"));
        assert!(!is_valid_label_value("a b"));
        assert!(!is_valid_label_value(&"a".repeat(64)));
    }
}

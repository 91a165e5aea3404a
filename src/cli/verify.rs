//! `verify`: checks a partner certificate offline with exactly the controller's rules.
//!
//! The `--trust` and `--intermediate` certificates go through the same CA evaluation as
//! CACertificates ([`trust::trusted_sets`]), so a CA the controller would not mark Ready is not
//! trusted here either. Prints one JSON object on stdout:
//! `{"valid", "reason", "message", "subject", "notAfter"}`. Exit code 0 = valid, 1 = invalid,
//! 2 = usage error (a file that cannot be read, or a trust/intermediate/chain file without
//! certificates: JSON with reason `UsageError`; bad flags or values are reported by clap on
//! stderr).

use crate::api::PartnerDomain;
use crate::trust::{self, CaInput, PartnerCertInput};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The reason reported when the command line or its files are unusable.
pub const USAGE_ERROR: &str = "UsageError";

/// Arguments of `verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Partner domain: AUTH, DEVICE, FTM or MISP (any case).
    #[arg(long, value_parser = parse_domain, value_name = "DOMAIN")]
    pub domain: PartnerDomain,
    /// PEM files with the domain's root CA certificates; a file may hold several certificates.
    /// Evaluated like CACertificates: only those that would be Ready are used.
    #[arg(long, required = true, num_args = 1.., value_name = "PEM_FILE")]
    pub trust: Vec<PathBuf>,
    /// PEM files with the domain's trusted intermediate CA certificates.
    #[arg(long, num_args = 1.., value_name = "PEM_FILE")]
    pub intermediate: Vec<PathBuf>,
    /// PEM file with the partner certificate (the first certificate; further ones are treated
    /// as partner-supplied chain certificates).
    #[arg(long, value_name = "PEM_FILE")]
    pub cert: PathBuf,
    /// PEM files with partner-supplied intermediates; used for path building, never trusted as
    /// roots.
    #[arg(long, num_args = 1.., value_name = "PEM_FILE")]
    pub chain: Vec<PathBuf>,
    /// The registered organisation name the Subject O must equal exactly; no check when absent.
    #[arg(long, value_name = "O")]
    pub organization: Option<String>,
    /// Evaluate at this time (RFC 3339, e.g. 2026-01-01T00:00:00Z) instead of now.
    #[arg(long, value_parser = parse_timestamp, value_name = "RFC3339")]
    pub at: Option<Timestamp>,
    /// Minimum remaining validity of the partner certificate, in days (MOSIP: 335).
    #[arg(long, default_value_t = 335, value_name = "N")]
    pub min_validity_days: u32,
}

fn parse_domain(s: &str) -> Result<PartnerDomain, String> {
    PartnerDomain::parse(s).ok_or_else(|| format!("unknown domain {s:?}; use AUTH, DEVICE, FTM or MISP"))
}

fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    s.parse::<Timestamp>().map_err(|e| format!("not an RFC 3339 time with offset, e.g. 2026-01-01T00:00:00Z ({e})"))
}

/// The JSON printed on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Whether the certificate would be accepted.
    pub valid: bool,
    /// `Trusted`, a certificate condition reason, or `UsageError`.
    pub reason: String,
    /// What was found and what to do.
    pub message: String,
    /// Subject DN of the partner certificate, when readable.
    pub subject: Option<String>,
    /// notAfter of the partner certificate (RFC 3339), when readable.
    #[serde(rename = "notAfter")]
    pub not_after: Option<String>,
}

/// Runs `verify`: prints the report as one JSON object and returns the exit code.
pub fn run(args: &VerifyArgs) -> i32 {
    let (report, warnings, code) = evaluate(args, Timestamp::now());
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    match serde_json::to_string(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("error: cannot encode the report: {e}");
            return 2;
        }
    }
    code
}

/// The report, human warnings (CAs that are not usable) and the exit code.
fn evaluate(args: &VerifyArgs, wall_clock: Timestamp) -> (VerifyReport, Vec<String>, i32) {
    match verify(args, wall_clock) {
        Ok((report, warnings)) => {
            let code = if report.valid { 0 } else { 1 };
            (report, warnings, code)
        }
        Err(message) => {
            let report =
                VerifyReport { valid: false, reason: USAGE_ERROR.to_string(), message, subject: None, not_after: None };
            (report, Vec::new(), 2)
        }
    }
}

/// `Err` is a usage error message.
fn verify(args: &VerifyArgs, wall_clock: Timestamp) -> Result<(VerifyReport, Vec<String>), String> {
    let now = args.at.unwrap_or(wall_clock);
    let mut cas: Vec<CaInput> = Vec::new();
    for (flag, files) in [("--trust", &args.trust), ("--intermediate", &args.intermediate)] {
        for path in files {
            let text = read(flag, path)?;
            let name = path.display().to_string();
            let inputs = trust::ca_inputs_from_bundle(&name, args.domain, &text)
                .map_err(|e| format!("{flag} file {name}: {e}"))?;
            cas.extend(inputs);
        }
    }
    let warnings: Vec<String> = trust::evaluate_cas(&cas, now)
        .into_iter()
        .filter(|v| !v.ready)
        .map(|v| format!("CA {} is not used ({}): {}", v.name, v.reason, v.message))
        .collect();
    let (roots, intermediates) = trust::trusted_sets(&cas, args.domain, now);

    let certificate_pem = read("--cert", &args.cert)?;
    let mut chain = String::new();
    for path in &args.chain {
        let text = read("--chain", path)?;
        trust::parse_pem_certificates(&text).map_err(|e| format!("--chain file {}: {e}", path.display()))?;
        chain.push_str(&text);
        chain.push('\n');
    }
    let min_validity = SignedDuration::from_hours(i64::from(args.min_validity_days) * 24);
    let input = PartnerCertInput {
        domain: args.domain,
        certificate_pem: &certificate_pem,
        chain_pem: (!chain.is_empty()).then_some(chain.as_str()),
        trusted_roots: &roots,
        trusted_intermediates: &intermediates,
        organization: args.organization.as_deref(),
        now,
        min_validity,
    };
    let report = match trust::validate_partner_certificate(&input) {
        Ok(valid) => {
            let root = valid
                .path_der
                .last()
                .and_then(|der| trust::summarize(der).ok())
                .map_or_else(|| "a trusted root".to_string(), |s| format!("\"{}\"", s.subject));
            VerifyReport {
                valid: true,
                reason: trust::reason::TRUSTED.to_string(),
                message: format!(
                    "certificate \"{}\" is trusted for the {} domain: it chains to {root}; it \
                     stays acceptable until {} (notAfter {})",
                    valid.summary.subject, args.domain, valid.next_check, valid.not_after
                ),
                subject: Some(valid.summary.subject.clone()),
                not_after: Some(valid.not_after.to_string()),
            }
        }
        Err(err) => {
            let summary = trust::parse_pem_certificates(&certificate_pem)
                .ok()
                .and_then(|ders| ders.first().and_then(|der| trust::summarize(der).ok()));
            VerifyReport {
                valid: false,
                reason: err.reason().to_string(),
                message: err.to_string(),
                subject: summary.as_ref().map(|s| s.subject.clone()),
                not_after: summary.as_ref().map(|s| s.not_after.to_string()),
            }
        }
    };
    Ok((report, warnings))
}

fn read(flag: &str, path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {flag} file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: VerifyArgs,
    }

    fn params(cn: &str, o: &str, ca: bool, not_before: Timestamp, not_after: Timestamp) -> CertificateParams {
        let mut p = CertificateParams::default();
        p.distinguished_name.remove(DnType::CommonName);
        p.distinguished_name.push(DnType::OrganizationName, o);
        p.distinguished_name.push(DnType::CommonName, cn);
        let odt =
            |t: Timestamp| x509_parser::time::ASN1Time::from_timestamp(t.as_second()).expect("time").to_datetime();
        p.not_before = odt(not_before);
        p.not_after = odt(not_after);
        // RFC 5280 §4.2.1.1: an authorityKeyIdentifier on every certificate but a self-signed root.
        p.use_authority_key_identifier_extension = true;
        if ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        }
        p
    }

    /// root.pem, leaf.pem (O=Acme) and junk.pem in a temp dir; the root expires at `root_until`.
    fn files(root_until: Timestamp) -> (tempfile::TempDir, Timestamp) {
        let now: Timestamp = "2026-06-01T00:00:00Z".parse().expect("time");
        let day = SignedDuration::from_hours(24);
        let root_key = KeyPair::generate().expect("key");
        let root_params = params("CLI Root", "CA Org", true, now - day, root_until);
        let root = root_params.self_signed(&root_key).expect("root");
        let leaf_key = KeyPair::generate().expect("key");
        let leaf = params("partner", "Acme", false, now - day, now + day * 400)
            .signed_by(&leaf_key, &Issuer::from_params(&root_params, &root_key))
            .expect("leaf");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("root.pem"), root.pem()).expect("write");
        std::fs::write(dir.path().join("leaf.pem"), leaf.pem()).expect("write");
        std::fs::write(dir.path().join("junk.pem"), "junk").expect("write");
        (dir, now)
    }

    fn args(dir: &Path, extra: &[&str]) -> VerifyArgs {
        let root = dir.join("root.pem");
        let leaf = dir.join("leaf.pem");
        let mut argv = vec![
            "verify".to_string(),
            "--domain".into(),
            "auth".into(),
            "--trust".into(),
            root.display().to_string(),
            "--cert".into(),
            leaf.display().to_string(),
            "--at".into(),
            "2026-06-01T00:00:00Z".into(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        Cli::try_parse_from(argv).expect("valid command line").args
    }

    #[test]
    fn valid_certificate_reports_trusted_and_exit_0() {
        let (dir, now) = files("2036-01-01T00:00:00Z".parse().expect("time"));
        let (report, warnings, code) = evaluate(&args(dir.path(), &["--organization", "Acme"]), now);
        assert_eq!(code, 0, "{report:?}");
        assert!(report.valid && warnings.is_empty());
        assert_eq!(report.reason, "Trusted");
        assert_eq!(report.subject.as_deref(), Some("CN=partner,O=Acme"));
        assert_eq!(report.not_after.as_deref(), Some("2027-07-06T00:00:00Z"));
        let json = serde_json::to_value(&report).expect("json");
        let keys: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 5);
        for key in ["valid", "reason", "message", "subject", "notAfter"] {
            assert!(keys.contains(&key), "{keys:?}");
        }
    }

    #[test]
    fn invalid_certificates_exit_1_with_the_reason() {
        let (dir, now) = files("2036-01-01T00:00:00Z".parse().expect("time"));
        let (report, _, code) = evaluate(&args(dir.path(), &["--organization", "acme"]), now);
        assert_eq!((code, report.reason.as_str()), (1, "OrganizationMismatch"));
        assert_eq!(report.subject.as_deref(), Some("CN=partner,O=Acme"));

        let (report, _, code) = evaluate(&args(dir.path(), &["--min-validity-days", "500"]), now);
        assert_eq!((code, report.reason.as_str()), (1, "InsufficientValidity"));

        let junk = dir.path().join("junk.pem").display().to_string();
        let mut bad = args(dir.path(), &[]);
        bad.cert = junk.into();
        let (report, _, code) = evaluate(&bad, now);
        assert_eq!((code, report.reason.as_str()), (1, "MalformedCertificate"));
        assert_eq!((report.subject, report.not_after), (None, None));
    }

    /// The bound on partner-supplied certificates applies to `--chain` exactly as to ca.crt.
    #[test]
    fn more_than_ten_chain_certificates_are_chain_too_long() {
        let (dir, now) = files("2036-01-01T00:00:00Z".parse().expect("time"));
        let day = SignedDuration::from_hours(24);
        let noise: String = (0..11)
            .map(|i| {
                let key = KeyPair::generate().expect("key");
                params(&format!("Noise {i}"), "CA Org", true, now - day, now + day)
                    .self_signed(&key)
                    .expect("cert")
                    .pem()
            })
            .collect();
        std::fs::write(dir.path().join("noise.pem"), noise).expect("write");
        let noise = dir.path().join("noise.pem").display().to_string();
        let (report, _, code) = evaluate(&args(dir.path(), &["--chain", &noise]), now);
        assert_eq!((code, report.reason.as_str()), (1, "ChainTooLong"), "{report:?}");
        assert!(report.message.contains("11 distinct"), "{}", report.message);
    }

    #[test]
    fn trust_roots_go_through_ca_evaluation() {
        // The root expires before --at: the controller would not mark it Ready, so neither do we.
        let (dir, now) = files("2026-05-31T00:00:00Z".parse().expect("time"));
        let (report, warnings, code) = evaluate(&args(dir.path(), &[]), now);
        assert_eq!((code, report.reason.as_str()), (1, "UntrustedChain"), "{report:?}");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("CertificateExpired"), "{warnings:?}");
    }

    #[test]
    fn unreadable_files_are_usage_errors() {
        let (dir, now) = files("2036-01-01T00:00:00Z".parse().expect("time"));
        let missing = dir.path().join("missing.pem");
        let mut no_cert = args(dir.path(), &[]);
        no_cert.cert = missing.clone();
        let (report, _, code) = evaluate(&no_cert, now);
        assert_eq!((code, report.reason.as_str(), report.valid), (2, USAGE_ERROR, false));
        assert!(report.message.contains("missing.pem"), "{}", report.message);

        let mut junk_trust = args(dir.path(), &[]);
        junk_trust.trust = vec![dir.path().join("junk.pem")];
        assert_eq!(evaluate(&junk_trust, now).2, 2);
        let mut no_chain = args(dir.path(), &[]);
        no_chain.chain = vec![missing];
        assert_eq!(evaluate(&no_chain, now).2, 2);
    }

    #[test]
    fn command_line_parsing() {
        let parsed = Cli::try_parse_from([
            "verify",
            "--domain",
            "MiSp",
            "--trust",
            "a.pem",
            "b.pem",
            "--trust",
            "c.pem",
            "--cert",
            "l.pem",
            "--at",
            "2026-01-01T05:30:00+05:30",
        ])
        .expect("parse")
        .args;
        assert_eq!(parsed.domain, PartnerDomain::Misp);
        assert_eq!(parsed.trust.len(), 3);
        assert_eq!(parsed.min_validity_days, 335);
        assert_eq!(parsed.at, Some("2026-01-01T00:00:00Z".parse().expect("time")));
        for bad in [
            vec!["verify", "--domain", "PARTNER", "--trust", "a", "--cert", "b"],
            vec!["verify", "--domain", "AUTH", "--cert", "b"],
            vec!["verify", "--domain", "AUTH", "--trust", "a", "--cert", "b", "--at", "yesterday"],
        ] {
            let err = Cli::try_parse_from(&bad).err().expect("usage error");
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }
}

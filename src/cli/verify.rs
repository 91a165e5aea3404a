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
    s.parse::<Timestamp>()
        .map_err(|e| format!("not an RFC 3339 time with offset, e.g. 2026-01-01T00:00:00Z ({e})"))
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
            let report = VerifyReport {
                valid: false,
                reason: USAGE_ERROR.to_string(),
                message,
                subject: None,
                not_after: None,
            };
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
        trust::parse_pem_certificates(&text)
            .map_err(|e| format!("--chain file {}: {e}", path.display()))?;
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

//! A few hand-read DER structures: the subject name of a certificate without a full parse (to
//! index large CA stores cheaply), and the NameConstraints extension with the GeneralSubtree
//! `minimum`/`maximum` fields that x509-parser drops.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// (tag byte, whole TLV, contents, rest).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// One DER TLV. Only definite lengths, at most 4 length octets, single-byte tags (all X.509
/// needs).
fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((tag, &input[..header + len], &rest[..len], &rest[len..]))
}

/// The DER of a certificate's subject Name (tag and length included, as
/// `X509Name::as_raw`), found by walking the TBSCertificate; `None` if the structure is not as
/// expected (the full parser then reports the error).
pub(crate) fn subject_of(cert_der: &[u8]) -> Option<&[u8]> {
    let (0x30, _, cert, _) = tlv(cert_der)? else { return None };
    let (0x30, _, tbs, _) = tlv(cert)? else { return None };
    let mut rest = tbs;
    let (tag, _, _, after) = tlv(rest)?;
    if tag == 0xa0 {
        rest = after; // [0] version
    }
    // serialNumber, signature, issuer, validity, subject.
    for expected in [0x02, 0x30, 0x30, 0x30] {
        let (tag, _, _, after) = tlv(rest)?;
        if tag != expected {
            return None;
        }
        rest = after;
    }
    match tlv(rest)? {
        (0x30, whole, _, _) => Some(whole),
        _ => None,
    }
}

/// One GeneralSubtree of a NameConstraints extension.
pub(crate) struct Subtree<'a> {
    pub base: GeneralName<'a>,
    /// `minimum` (DEFAULT 0); RFC 5280 requires 0.
    pub minimum: u64,
    /// Whether `maximum` is present; RFC 5280 requires it absent.
    pub has_maximum: bool,
}

/// A NameConstraints extension value.
pub(crate) struct NameConstraints<'a> {
    pub permitted: Option<Vec<Subtree<'a>>>,
    pub excluded: Option<Vec<Subtree<'a>>>,
}

/// Parses a NameConstraints extension value; `Err` says what is malformed.
pub(crate) fn name_constraints(value: &[u8]) -> Result<NameConstraints<'_>, String> {
    let malformed = |what: &str| Err(format!("the nameConstraints extension is not valid DER ({what})"));
    let Some((0x30, _, mut body, [])) = tlv(value) else {
        return malformed("expected one SEQUENCE");
    };
    let mut out = NameConstraints { permitted: None, excluded: None };
    for (tag, slot) in [(0xa0u8, 0usize), (0xa1, 1)] {
        let Some((t, _, contents, after)) = tlv(body) else { break };
        if t != tag {
            continue;
        }
        body = after;
        let mut subtrees = Vec::new();
        let mut items = contents;
        while !items.is_empty() {
            let Some((0x30, _, subtree, next)) = tlv(items) else {
                return malformed("a GeneralSubtree is not a SEQUENCE");
            };
            items = next;
            let Ok((after_base, base)) = GeneralName::from_der(subtree) else {
                return malformed("a GeneralSubtree base is not a GeneralName");
            };
            let mut minimum = 0u64;
            let mut has_maximum = false;
            let mut fields = after_base;
            if let Some((0x80, _, min, next)) = tlv(fields) {
                if min.is_empty() || min.len() > 8 {
                    return malformed("GeneralSubtree minimum is not a small INTEGER");
                }
                minimum = min.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                fields = next;
            }
            if let Some((0x81, _, _, next)) = tlv(fields) {
                has_maximum = true;
                fields = next;
            }
            if !fields.is_empty() {
                return malformed("trailing data in a GeneralSubtree");
            }
            subtrees.push(Subtree { base, minimum, has_maximum });
        }
        if subtrees.is_empty() {
            return malformed("an empty list of subtrees");
        }
        if slot == 0 {
            out.permitted = Some(subtrees);
        } else {
            out.excluded = Some(subtrees);
        }
    }
    if !body.is_empty() {
        return malformed("unexpected data after the subtrees");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_rejects_truncation_and_long_forms() {
        assert!(tlv(&[0x30, 0x03, 0x01]).is_none());
        assert!(tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(tlv(&[0x1f, 0x00]).is_none());
        let (tag, whole, contents, rest) = tlv(&[0x04, 0x81, 0x01, 0xaa, 0xbb]).expect("tlv");
        assert_eq!((tag, whole.len(), contents, rest), (0x04, 4, &[0xaa][..], &[0xbb][..]));
        assert!(subject_of(b"junk").is_none());
    }
}

//! Raw DER surgery for violations rcgen cannot express: take an rcgen certificate, change
//! TBSCertificate fields, and sign the result again with the issuer's key.

use super::fixtures::Issued;
use rcgen::{KeyPair, SigningKey};

/// One DER TLV with a definite length.
pub fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// Splits DER contents into whole TLVs.
pub fn split(mut input: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let first = input[1];
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            (input[2..2 + n].iter().fold(0usize, |a, b| (a << 8) | usize::from(*b)), 2 + n)
        };
        out.push(input[..header + len].to_vec());
        input = &input[header + len..];
    }
    out
}

/// The contents of a TLV.
pub fn contents(whole: &[u8]) -> &[u8] {
    let first = whole[1];
    let header = if first < 0x80 { 2 } else { 2 + usize::from(first & 0x7f) };
    &whole[header..]
}

/// Rewrites the TBSCertificate of `cert` (its fields as whole TLVs: `[0]` version, serial,
/// signature, issuer, validity, subject, SPKI, `[3]` extensions) and signs it with `signer`
/// (the issuer's key, or the certificate's own key for a self-signed one). The outer
/// signatureAlgorithm is kept.
pub fn tamper(cert: Issued, signer: &KeyPair, f: impl FnOnce(&mut Vec<Vec<u8>>)) -> Issued {
    let top = split(contents(&cert.der));
    let mut fields = split(contents(&top[0]));
    f(&mut fields);
    let tbs = tlv(0x30, &fields.concat());
    let signature = signer.sign(&tbs).expect("sign");
    let mut bits = vec![0u8];
    bits.extend(signature);
    let der = tlv(0x30, &[tbs, top[1].clone(), tlv(0x03, &bits)].concat());
    let pem = crate::trust::cert::der_to_pem(&der);
    Issued { der, pem, key: cert.key }
}

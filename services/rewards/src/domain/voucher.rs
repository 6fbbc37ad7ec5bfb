//! Voucher codes: uploaded into a pool, or generated at redemption.

use questline_kit::{DomainError, Violations};
use std::collections::HashSet;

pub const MAX_CODE_CHARS: usize = 64;
pub const MAX_CODES_PER_UPLOAD: usize = 10_000;
/// Bad codes reported one by one; the rest are counted, so a bad file does not
/// produce an error too large for gRPC trailers.
const MAX_REPORTED: usize = 20;

/// 32 symbols without 0/O and 1/I, which are misread on receipts and screens.
const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Random bytes behind one generated code: 12 symbols of 5 bits, 60 bits in all.
pub const ENTROPY_BYTES: usize = 12;

/// `QL-XXXX-XXXX-XXXX` from random bytes. Each byte picks a symbol by its low
/// five bits; 256 is a multiple of 32, so every symbol is equally likely.
pub fn generated_code(entropy: &[u8; ENTROPY_BYTES]) -> String {
    let symbols: Vec<char> = entropy
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect();
    let groups: Vec<String> = symbols.chunks(4).map(|g| g.iter().collect()).collect();
    format!("QL-{}", groups.join("-"))
}

/// Cleans an upload for a pool: trims each code, checks it, and drops repeats,
/// keeping the first-seen order. Codes already in the pool are the store's business.
pub fn pool_upload(codes: &[String]) -> Result<Vec<String>, DomainError> {
    let mut v = Violations::new();
    v.check(!codes.is_empty(), "codes", "at least one code is required")
        .check(
            codes.len() <= MAX_CODES_PER_UPLOAD,
            "codes",
            "at most 10000 codes per call",
        );
    let mut bad = 0;
    for (i, code) in codes.iter().enumerate() {
        if !is_valid(code.trim()) {
            bad += 1;
            if bad <= MAX_REPORTED {
                v.add(
                    &format!("codes[{i}]"),
                    "must be 1 to 64 printable ASCII characters without spaces",
                );
            }
        }
    }
    if bad > MAX_REPORTED {
        v.add(
            "codes",
            format!("{} more invalid codes", bad - MAX_REPORTED),
        );
    }
    v.finish()?;
    let mut seen = HashSet::with_capacity(codes.len());
    Ok(codes
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| seen.insert(c.clone()))
        .collect())
}

fn is_valid(code: &str) -> bool {
    (1..=MAX_CODE_CHARS).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    fn fields<T: std::fmt::Debug>(result: Result<T, DomainError>) -> Vec<String> {
        let Err(DomainError::Invalid(v)) = result else {
            panic!("expected invalid, got {result:?}")
        };
        v.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn generated_codes_use_the_unambiguous_alphabet_in_three_groups() {
        let code = generated_code(&[0, 1, 2, 3, 31, 32, 33, 255, 8, 9, 10, 200]);
        assert_eq!(code, "QL-2345-Z23Z-ABCA");
        let body: String = code[3..].chars().filter(|c| *c != '-').collect();
        assert_eq!(body.len(), 12);
        assert!(body.chars().all(|c| !"01IO".contains(c)));
    }

    #[test]
    fn different_entropy_gives_different_codes() {
        assert_ne!(
            generated_code(&[7; ENTROPY_BYTES]),
            generated_code(&[8; ENTROPY_BYTES])
        );
    }

    #[test]
    fn uploads_are_trimmed_and_deduplicated_in_order() {
        let clean = pool_upload(&codes(&[" PIZZA-1 ", "PIZZA-2", "PIZZA-1", "\tPIZZA-2"]))
            .expect("valid codes");
        assert_eq!(clean, ["PIZZA-1", "PIZZA-2"]);
    }

    #[test]
    fn codes_must_be_printable_ascii_without_spaces_and_short() {
        let err = pool_upload(&codes(&["OK", "TWO WORDS", "   ", "CAFÉ", &"X".repeat(65)]));
        assert_eq!(
            fields(err),
            ["codes[1]", "codes[2]", "codes[3]", "codes[4]"]
        );
        assert!(pool_upload(&codes(&[&"X".repeat(64), "~!@#"])).is_ok());
    }

    #[test]
    fn an_upload_is_between_one_and_ten_thousand_codes() {
        assert_eq!(fields(pool_upload(&[])), ["codes"]);
        let many: Vec<String> = (0..=MAX_CODES_PER_UPLOAD)
            .map(|i| format!("C{i}"))
            .collect();
        assert_eq!(fields(pool_upload(&many)), ["codes"]);
        assert!(pool_upload(&many[..MAX_CODES_PER_UPLOAD]).is_ok());
    }

    #[test]
    fn a_bad_file_reports_a_bounded_number_of_violations() {
        let bad: Vec<String> = (0..100).map(|_| " ".to_string()).collect();
        let found = fields(pool_upload(&bad));
        assert_eq!(found.len(), MAX_REPORTED + 1);
        assert_eq!(found.last().map(String::as_str), Some("codes"));
    }
}

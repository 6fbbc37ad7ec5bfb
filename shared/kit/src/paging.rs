//! Cursor paging after AIP-158: `page_size` (0 means the default) and an opaque
//! `page_token` that resumes after the last item of the previous page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::DomainError;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub size: u64,
    /// The sort key of the last item already returned.
    pub after: Option<String>,
}

impl Page {
    /// Rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch_limit(&self) -> u64 {
        self.size + 1
    }

    /// Cuts `rows` (fetched with `fetch_limit`) to the page, with the token
    /// for the next page made from the last row's sort key.
    pub fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> &str) -> (Vec<T>, String) {
        let fetched = rows.len();
        rows.truncate(self.size as usize);
        let token = next_token(self.size, fetched, rows.last().map(key));
        (rows, token)
    }
}

pub fn parse(page_size: i32, page_token: &str) -> Result<Page, DomainError> {
    let size = match page_size {
        n if n < 0 => return Err(DomainError::invalid("page_size", "must not be negative")),
        0 => DEFAULT_PAGE_SIZE,
        n => (n as u64).min(MAX_PAGE_SIZE),
    };
    let after = if page_token.is_empty() {
        None
    } else {
        let bytes = URL_SAFE_NO_PAD
            .decode(page_token)
            .map_err(|_| DomainError::invalid("page_token", "is not a token from this API"))?;
        // Any well-formed token reads as a position (the page after it):
        // one we never made is harmless, and clients need no other rule.
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    Ok(Page { size, after })
}

/// The token for the next page, or empty when `fetched` (asked for `size + 1`)
/// shows there is none.
pub fn next_token(size: u64, fetched: usize, last_key: Option<&str>) -> String {
    match last_key {
        Some(key) if fetched as u64 > size => URL_SAFE_NO_PAD.encode(key),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() {
        let token = next_token(2, 3, Some("0190-abc"));
        assert_eq!(parse(2, &token).unwrap().after.as_deref(), Some("0190-abc"));
        assert_eq!(next_token(2, 2, Some("x")), "");
        assert!(parse(10, "%%%").is_err());
        assert!(parse(10, "_-8").is_ok());
        assert!(parse(-1, "").is_err());
        assert_eq!(parse(0, "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(parse(100_000, "").unwrap().size, MAX_PAGE_SIZE);

        let page = parse(2, "").unwrap();
        let (rows, token) = page.finish(vec!["a", "b", "c"], |r| r);
        assert_eq!(rows, ["a", "b"]);
        assert_eq!(parse(2, &token).unwrap().after.as_deref(), Some("b"));
        assert_eq!(page.finish(vec!["a", "b"], |r| r).1, "");
    }
}

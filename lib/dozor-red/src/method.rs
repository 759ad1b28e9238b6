//! HTTP request methods as a bounded label: the semantic conventions' known methods, anything
//! else `_OTHER`.

/// The methods kept as they are (RFC 9110 and RFC 5789), as `http.request.method` lists them.
const KNOWN: &[&str] = &[
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

/// The label for a method: itself when known (case-sensitive, as methods are), `_OTHER` else.
pub fn normalise(method: &str) -> &'static str {
    KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("_OTHER")
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_and_lower_case_methods_are_other() {
        assert_eq!(super::normalise("GET"), "GET");
        assert_eq!(super::normalise("PATCH"), "PATCH");
        assert_eq!(super::normalise("get"), "_OTHER");
        assert_eq!(super::normalise("PROPFIND"), "_OTHER");
        assert_eq!(super::normalise(""), "_OTHER");
    }
}

//! Secrets and how they are kept out of every message: an [`ApiKey`] that never prints,
//! and [`redact_url`], which every message about a URL (HTTP server, database) goes
//! through so that user names, passwords and query tokens never reach logs, errors,
//! results or reports.

/// An API key. It prints as `***`, is never serialized, and is compared in constant time.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key, or none when `key` is blank.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        (!key.trim().is_empty()).then_some(Self(key))
    }

    /// The key itself, for the one place that sends it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this key, in time independent of where the two differ.
    pub fn matches(&self, given: &str) -> bool {
        given.len() == self.0.len()
            && given
                .bytes()
                .zip(self.0.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// `text` with every occurrence of the key replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "***")
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// A URL safe to print and store: without user info, query or fragment (where tokens
/// and passwords travel), and without a trailing `/`. PostgreSQL's `key=value`
/// connection strings keep only `host`, `port` and `dbname`. Text that is neither
/// becomes `<invalid url>`, since it may hold anything.
pub fn redact_url(url: &str) -> String {
    let url = url.trim();
    match url::Url::parse(url) {
        Ok(mut u) if u.has_host() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.as_str().trim_end_matches('/').to_owned()
        }
        Ok(_) => "<invalid url>".into(),
        // PostgreSQL's `key=value` form.
        Err(_) if url.contains('=') => url
            .split_whitespace()
            .filter(|kv| {
                kv.starts_with("host=") || kv.starts_with("port=") || kv.starts_with("dbname=")
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => "<invalid url>".into(),
    }
}

/// `text` with the secrets of `url` (its user name, password and query) replaced: the
/// whole URL by its redacted form, and each secret part wherever it appears alone.
pub fn scrub_url(text: &str, url: &str) -> String {
    let url = url.trim();
    let mut text = text.replace(url, &redact_url(url));
    if let Ok(u) = url::Url::parse(url) {
        let mut secrets = vec![u.username().to_owned()];
        secrets.extend(u.password().map(str::to_owned));
        secrets.extend(u.query().map(str::to_owned));
        for part in secrets {
            if part.is_empty() {
                continue;
            }
            // Percent-decoded too, as a library may print it either way.
            let decoded = url::form_urlencoded::parse(part.as_bytes())
                .map(|(k, v)| {
                    if v.is_empty() {
                        k.into_owned()
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect::<Vec<_>>()
                .join("&");
            for form in [part, decoded] {
                if form.len() >= 3 {
                    text = text.replace(&form, "***");
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_queries_and_fragments() {
        for (url, shown) in [
            (
                "https://user:pw@example.com/v1/?api_key=sk-1#x",
                "https://example.com/v1",
            ),
            ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
            (
                "postgresql://ab:s3cret@db.example:5432/prod?sslmode=require",
                "postgresql://db.example:5432/prod",
            ),
            // A password holding `@`: the user info ends at the last `@`.
            ("postgres://u:p@ss@h/db", "postgres://h/db"),
            ("HTTP://key@h?token=1", "http://h"),
            (
                "host=/tmp port=5433 user=ab password=s3cret dbname=x",
                "host=/tmp port=5433 dbname=x",
            ),
            ("not a url", "<invalid url>"),
            ("://nohost", "<invalid url>"),
            ("http://user:pw@/path", "<invalid url>"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            for secret in ["pw", "s3cret", "sk-1", "token", "ss@"] {
                assert!(!redact_url(url).contains(secret), "{url}");
            }
        }
    }

    #[test]
    fn messages_lose_a_urls_secrets() {
        let url = "http://alice:pa%24%24word@h:8/v1?token=qq-secret";
        let text = format!(
            "error sending request for url ({url}/models): user alice, pass pa$$word, pa%24%24word"
        );
        let clean = scrub_url(&text, url);
        for secret in ["alice", "pa$$word", "pa%24%24word", "qq-secret"] {
            assert!(!clean.contains(secret), "{secret} in {clean}");
        }
        assert!(clean.contains("http://h:8/v1/models"), "{clean}");
    }

    #[test]
    fn keys_never_print_and_compare_exactly() {
        let key = ApiKey::new("sk-secret-123").unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        assert!(key.matches("sk-secret-123"));
        assert!(!key.matches("sk-secret-124") && !key.matches("sk-secret-12"));
        assert_eq!(key.scrub("bad key sk-secret-123!"), "bad key ***!");
        assert!(ApiKey::new("  ").is_none());
    }
}

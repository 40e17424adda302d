//! The web console at `/ui`: a single-page app whose files (in
//! `src/console/assets`, plain ES modules, CSS and an SVG icon) are
//! compiled into the binary, gzipped at build time (see `build.rs`). It
//! talks to the admin API only; everything it draws from data is inserted
//! as text.
//!
//! Every answer here carries a strict Content-Security-Policy (scripts and
//! styles from this origin only: no inline code, no `eval`, no framing),
//! `nosniff`, `X-Frame-Options: DENY` and `no-referrer`. Files are
//! revalidated by ETag, so a new binary's console is picked up at once.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One compiled-in file.
pub(crate) struct Asset {
    /// Its path under `/ui/`.
    pub path: &'static str,
    pub mime: &'static str,
    pub raw: &'static [u8],
    pub gzip: &'static [u8],
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// The policy of every console answer.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// `/ui`, `/ui/` and the files under `/ui/`.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*path}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = find(path) else {
        let mut resp = (StatusCode::NOT_FOUND, "not found").into_response();
        secure(resp.headers_mut());
        return resp;
    };
    let mut resp = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == asset.etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(headers) {
        let mut r = asset.gzip.into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        asset.raw.into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    h.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(h);
    resp
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accept));
        h
    }

    #[test]
    fn gzip_is_served_when_accepted() {
        assert!(accepts_gzip(&headers("gzip, deflate, br")));
        assert!(accepts_gzip(&headers("br;q=1.0, gzip;q=0.8")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("br")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn every_file_is_compiled_in_and_the_page_loads_only_its_own() {
        for page in ["overview", "upstreams", "clients", "requests", "usage"] {
            assert!(find(&format!("pages/{page}.js")).is_some(), "{page}");
        }
        let index = find("index.html").unwrap();
        let html = std::str::from_utf8(index.raw).unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "no inline code"
        );
        for asset in ASSETS {
            assert!(!asset.gzip.is_empty() && asset.etag.starts_with('"'));
            // Nothing is loaded from another origin: no absolute URL where
            // a file or a request would be fetched from.
            let text = String::from_utf8_lossy(asset.raw);
            for from in [
                "from \"",
                "import(\"",
                "url(",
                "src=\"",
                "href=\"",
                "fetch(\"",
                "EventSource(\"",
            ] {
                for (at, _) in text.match_indices(from) {
                    let target = &text[at + from.len()..];
                    assert!(
                        !target.starts_with("http") && !target.starts_with("//"),
                        "{} loads from outside: {}",
                        asset.path,
                        &target[..target.len().min(40)]
                    );
                }
            }
            assert!(
                !text.contains("innerHTML") && !text.contains("eval("),
                "{}",
                asset.path
            );
        }
    }
}

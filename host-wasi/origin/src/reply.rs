//! Responses with the headers Smooth Streaming players and CDNs expect.

use wstd::http::{Body, Response};

const CORS: (&str, &str) = ("access-control-allow-origin", "*");

fn build(status: u16, content_type: &str, cache: &str, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", cache)
        .header(CORS.0, CORS.1)
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Shaka guesses the manifest type from the MIME type alone, so it must be exact.
pub fn manifest(xml: String) -> Response<Body> {
    // Rebuilt from sources on each request: short-lived, so a replaced source shows soon.
    build(
        200,
        "application/vnd.ms-sstr+xml",
        "public, max-age=60",
        xml.into_bytes(),
    )
}

/// A fragment's bytes depend only on its source and URL: cache them for good.
pub fn fragment(data: Vec<u8>) -> Response<Body> {
    build(
        200,
        "video/mp4",
        "public, max-age=31536000, immutable",
        data,
    )
}

pub fn error(status: u16, message: &str) -> Response<Body> {
    build(
        status,
        "text/plain; charset=utf-8",
        "no-store",
        format!("{message}\n").into_bytes(),
    )
}

pub fn preflight() -> Response<Body> {
    Response::builder()
        .status(204)
        .header(CORS.0, CORS.1)
        .header("access-control-allow-methods", "GET, HEAD, OPTIONS")
        .header("access-control-allow-headers", "*")
        .header("access-control-max-age", "86400")
        .body(Body::empty())
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// HEAD: the same status and headers, no body.
pub fn without_body(response: Response<Body>) -> Response<Body> {
    let (mut parts, _) = response.into_parts();
    // An empty body with the GET's length would be a length mismatch in wasi:http.
    parts.headers.remove("content-length");
    Response::from_parts(parts, Body::empty())
}

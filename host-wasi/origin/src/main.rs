//! Smoothcast's just-in-time origin: a wasi:http proxy component that answers IIS Smooth
//! Streaming URLs by packaging source MP4s on each request.
//!
//! ```text
//! wasmtime serve -S cli --dir ./media::/media smoothcast_wasi_origin.wasm
//! GET /<group>/Manifest                                 (or /<group>/manifest.ismc)
//! GET /<group>/QualityLevels(<bitrate>)/Fragments(video=<t>)
//! GET /<group>/QualityLevels(<bitrate>)/FragmentInfo(video=<t>)
//! ```
//!
//! Each request indexes the group's sources (their `moov`s, through the core's
//! just-in-time index, see `package`) and reads only the samples of the fragment asked
//! for, so the component holds no state across requests and an edge runtime may run any
//! number of copies.

mod package;
mod reply;
mod route;
mod source;

use wstd::http::{Body, Error, Method, Request, Response};

use route::{Reject, Route};
use source::Source;

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    Ok(handle(&request).await)
}

async fn handle(request: &Request<Body>) -> Response<Body> {
    let head = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        Method::OPTIONS => return reply::preflight(),
        _ => return reply::error(405, "only GET and HEAD"),
    };
    let response = match route::parse(request.uri().path()) {
        Ok(route) => serve(route).await,
        Err(Reject::NotFound) => reply::error(404, "not found"),
        Err(Reject::BadRequest(why)) => reply::error(400, &why),
    };
    if head {
        reply::without_body(response)
    } else {
        response
    }
}

async fn serve(route: Route) -> Response<Body> {
    let source = Source::from_env();
    let group = match &route {
        Route::Manifest { group } | Route::Fragment { group, .. } => group.clone(),
    };
    let names = match source.list(&group).await {
        Ok(Some(names)) => names,
        Ok(None) => return reply::error(404, "no such group"),
        Err(e) => return reply::error(502, &e),
    };
    let mut blobs = Vec::with_capacity(names.len());
    for n in &names {
        match source.open(&group, &n.file).await {
            Ok(b) => blobs.push(b),
            Err(e) => return reply::error(502, &e),
        }
    }
    // Rebuilt per request (the component keeps no state): the moovs only.
    let index = match package::index(&names, &mut blobs) {
        Ok(i) => i,
        Err(e) => return reply::error(500, &e),
    };
    match route {
        Route::Manifest { .. } => reply::manifest(package::manifest(&index)),
        Route::Fragment {
            bitrate,
            stream,
            start,
            info_only,
            ..
        } => {
            let Some((_, f)) = index.fragment_at(&stream, bitrate, start) else {
                return reply::error(404, "no fragment of that quality level starts at that time");
            };
            if info_only {
                return reply::fragment(f.head[..f.moof_len()].to_vec());
            }
            match package::fragment(f, &mut blobs) {
                Ok(data) => reply::fragment(data),
                Err(e) => reply::error(500, &e),
            }
        }
    }
}

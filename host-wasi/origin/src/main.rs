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
//! Each request rebuilds what it needs from the sources (see `source`), so the component
//! holds no state across requests and an edge runtime may run any number of copies.

mod package;
mod reply;
mod route;
mod source;

use smoothcast_core::TrackKind;
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
    let inputs = match package::inputs(&source, &group, names).await {
        Ok(inputs) => inputs,
        Err(e) => return reply::error(500, &e),
    };
    match route {
        Route::Manifest { .. } => match package::manifest(&source, &group, &inputs).await {
            Ok(xml) => reply::manifest(xml),
            Err(e) => reply::error(500, &e),
        },
        Route::Fragment {
            bitrate,
            kind,
            start,
            info_only,
            ..
        } => {
            // A video level is named by its input's bitrate; an audio level by the audio's
            // own, which packaging measures: the inputs are asked in manifest order.
            let candidates: Vec<_> = match kind {
                TrackKind::Video => inputs.iter().filter(|i| i.bitrate == bitrate).collect(),
                _ => inputs.iter().collect(),
            };
            if candidates.is_empty() {
                return reply::error(404, "no quality level with that bitrate");
            }
            for input in candidates {
                match package::fragment(&source, &group, input, kind, bitrate, start).await {
                    Ok(Some(data)) if info_only => {
                        return reply::fragment(package::moof_only(&data).to_vec())
                    }
                    Ok(Some(data)) => return reply::fragment(data),
                    Ok(None) => {}
                    Err(e) => return reply::error(500, &e),
                }
            }
            reply::error(404, "no fragment of that quality level starts at that time")
        }
    }
}

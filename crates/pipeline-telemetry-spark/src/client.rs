//! The HTTP side: GET one endpoint of the REST API, bounded in time and
//! size, and parse it element by element.

use std::io::Read;
use std::time::Duration;

use serde::Deserialize;

use crate::api::{parse_list, ApplicationInfo, ExecutorSummary, JobData, Parsed, StageData};
use crate::error::{PollError, StartError};

/// The largest body read from one request (a jobs list of a few thousand
/// jobs is a few MB).
pub(crate) const MAX_BODY: u64 = 64 * 1024 * 1024;

/// A client of one Spark UI or history server.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::blocking::Client,
    /// `http://host:port/api/v1`
    api: String,
}

/// `http://host:4040`, `http://host:4040/`, `http://host:4040/api/v1` all
/// give `http://host:4040/api/v1`.
pub(crate) fn api_base(url: &str) -> Result<String, StartError> {
    let invalid = |reason| StartError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or_else(|| invalid("it must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid("it names no host"));
    }
    if trimmed.contains(['?', '#', ' ']) {
        return Err(invalid("it must not hold a query, fragment or space"));
    }
    let base = trimmed.strip_suffix("/api/v1").unwrap_or(trimmed);
    Ok(format!("{base}/api/v1"))
}

impl Client {
    /// Must not run inside an async context (the blocking client owns a
    /// runtime): the monitor builds it on its own thread.
    pub(crate) fn new(api: String, timeout: Duration) -> Result<Self, StartError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(StartError::Client)?;
        Ok(Client { http, api })
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<Parsed<T>, PollError> {
        let (url, body) = self.body(path)?;
        parse_list(&body).map_err(|source| PollError::Malformed { url, source })
    }

    /// GETs `path`, bounded in size; the URL and the body.
    fn body(&self, path: &str) -> Result<(String, Vec<u8>), PollError> {
        let url = format!("{}/{path}", self.api);
        let response = self
            .http
            .get(&url)
            .send()
            .map_err(|source| PollError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(PollError::Status {
                url,
                status: status.as_u16(),
            });
        }
        let mut body = Vec::new();
        let read = response.take(MAX_BODY + 1).read_to_end(&mut body);
        let too_large =
            || std::io::Error::other(format!("the body is larger than {MAX_BODY} bytes"));
        match read {
            Ok(n) if n as u64 > MAX_BODY => Err(PollError::Body {
                url,
                source: too_large(),
            }),
            Ok(_) => Ok((url, body)),
            Err(source) => Err(PollError::Body { url, source }),
        }
    }

    pub(crate) fn applications(&self) -> Result<Parsed<ApplicationInfo>, PollError> {
        self.get("applications")
    }

    /// One application by id; `None` when the API does not know it (404).
    pub(crate) fn application(&self, id: &str) -> Result<Option<ApplicationInfo>, PollError> {
        match self.body(&format!("applications/{id}")) {
            Ok((url, body)) => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|source| PollError::Malformed { url, source }),
            Err(PollError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn jobs(&self, app: &str) -> Result<Parsed<JobData>, PollError> {
        self.get(&format!("applications/{app}/jobs"))
    }

    pub(crate) fn executors(&self, app: &str) -> Result<Parsed<ExecutorSummary>, PollError> {
        self.get(&format!("applications/{app}/executors"))
    }

    pub(crate) fn failed_stages(&self, app: &str) -> Result<Parsed<StageData>, PollError> {
        self.get(&format!("applications/{app}/stages?status=failed"))
    }

    pub(crate) fn api(&self) -> &str {
        &self.api
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_accepts_the_usual_forms() {
        for url in [
            "http://127.0.0.1:4040",
            "http://127.0.0.1:4040/",
            "http://127.0.0.1:4040/api/v1",
            " http://127.0.0.1:4040/api/v1/ ",
        ] {
            assert_eq!(
                api_base(url).expect(url),
                "http://127.0.0.1:4040/api/v1",
                "{url}"
            );
        }
        for url in ["127.0.0.1:4040", "http://", "ftp://x", "http://x/?a=1"] {
            assert!(api_base(url).is_err(), "{url}");
        }
    }
}

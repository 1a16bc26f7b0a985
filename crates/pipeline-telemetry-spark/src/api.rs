//! The parts of Spark's monitoring REST API (`/api/v1`) the monitor reads,
//! as `serde` types. Every field the monitor does not need is ignored, and
//! every field it reads has a default, so that Spark versions that add or
//! drop fields still parse; one malformed element of a list is skipped
//! without losing the others ([`parse_list`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// One application (`GET /api/v1/applications`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ApplicationInfo {
    /// The application id (`local-1700000000000`, `application_..._0001`).
    pub id: String,
    /// The application name (`spark.app.name`).
    #[serde(default)]
    pub name: String,
    /// Its attempts, newest first (one, without an id, outside YARN).
    #[serde(default)]
    pub attempts: Vec<ApplicationAttempt>,
}

impl ApplicationInfo {
    /// The path of this application under `/api/v1/applications`, with the
    /// newest attempt's id when attempts have ids (YARN cluster mode).
    pub fn path(&self) -> String {
        match self.attempts.first().and_then(|a| a.attempt_id.as_deref()) {
            Some(attempt) => format!("{}/{}", self.id, attempt),
            None => self.id.clone(),
        }
    }

    /// Whether the newest attempt has ended.
    pub fn completed(&self) -> bool {
        self.attempts.first().is_some_and(|a| a.completed)
    }
}

/// One attempt of an application.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ApplicationAttempt {
    /// The attempt id, only in YARN cluster mode.
    #[serde(default)]
    pub attempt_id: Option<String>,
    /// Whether the attempt has ended.
    #[serde(default)]
    pub completed: bool,
}

/// The status of a Spark job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum JobStatus {
    /// Still running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Spark lost track of it (its end event was dropped).
    #[default]
    #[serde(other)]
    Unknown,
}

impl JobStatus {
    /// Whether the job has finished (succeeded or failed).
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

/// One Spark job (`GET /api/v1/applications/{id}/jobs`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JobData {
    /// The job id, unique within the application.
    pub job_id: u64,
    /// The call site Spark names the job after (`count at etl.py:12`):
    /// unbounded, only ever a span attribute.
    #[serde(default)]
    pub name: String,
    /// The job description (`SparkContext.setJobDescription`).
    #[serde(default)]
    pub description: Option<String>,
    /// The job group (`SparkContext.setJobGroup`).
    #[serde(default)]
    pub job_group: Option<String>,
    /// When the job was submitted.
    #[serde(default, deserialize_with = "spark_time")]
    pub submission_time: Option<SystemTime>,
    /// When the job finished.
    #[serde(default, deserialize_with = "spark_time")]
    pub completion_time: Option<SystemTime>,
    /// Its stages.
    #[serde(default)]
    pub stage_ids: Vec<u64>,
    /// Its status.
    #[serde(default)]
    pub status: JobStatus,
    /// Tasks in all its stages.
    #[serde(default)]
    pub num_tasks: u64,
    /// Tasks that completed.
    #[serde(default)]
    pub num_completed_tasks: u64,
    /// Tasks that were skipped (their output was already computed).
    #[serde(default)]
    pub num_skipped_tasks: u64,
    /// Tasks that failed.
    #[serde(default)]
    pub num_failed_tasks: u64,
    /// Tasks that were killed.
    #[serde(default)]
    pub num_killed_tasks: u64,
    /// Stages that completed.
    #[serde(default)]
    pub num_completed_stages: u64,
    /// Stages that were skipped.
    #[serde(default)]
    pub num_skipped_stages: u64,
    /// Stages that failed.
    #[serde(default)]
    pub num_failed_stages: u64,
}

impl JobData {
    /// Completion − submission, when both are known and in order.
    pub fn duration(&self) -> Option<Duration> {
        let (start, end) = (self.submission_time?, self.completion_time?);
        end.duration_since(start).ok()
    }
}

/// One executor (`GET /api/v1/applications/{id}/executors`, or
/// `/allexecutors` with the dead ones too).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExecutorSummary {
    /// `driver`, or the executor's number.
    pub id: String,
    /// Whether it is alive.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// Its cores.
    #[serde(default)]
    pub total_cores: u64,
    /// Tasks that failed on it.
    #[serde(default)]
    pub failed_tasks: u64,
}

fn yes() -> bool {
    true
}

impl ExecutorSummary {
    /// Whether this is the driver (also the only executor in local mode).
    pub fn is_driver(&self) -> bool {
        self.id == "driver"
    }
}

/// One stage attempt (`GET /api/v1/applications/{id}/stages?status=failed`),
/// read for the failure reason of failed jobs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StageData {
    /// The stage id.
    pub stage_id: u64,
    /// Why the stage failed, if it did.
    #[serde(default)]
    pub failure_reason: Option<String>,
}

/// A list parsed element by element: the elements that parse, and how many
/// did not.
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    /// The elements that parsed.
    pub items: Vec<T>,
    /// Elements that were not what the API documents.
    pub malformed: usize,
}

/// Parses a JSON array element by element; fails only when the body is not
/// a JSON array at all.
///
/// # Errors
///
/// The [`serde_json::Error`] when `body` is not a JSON array; elements
/// that do not parse are counted in [`Parsed::malformed`] instead.
pub fn parse_list<T: for<'de> Deserialize<'de>>(
    body: &[u8],
) -> Result<Parsed<T>, serde_json::Error> {
    let raw: Vec<&RawValue> = serde_json::from_slice(body)?;
    let mut items = Vec::with_capacity(raw.len());
    let mut malformed = 0;
    for element in raw {
        match serde_json::from_str(element.get()) {
            Ok(item) => items.push(item),
            Err(_) => malformed += 1,
        }
    }
    Ok(Parsed { items, malformed })
}

/// A time as Spark's REST API writes it (`2024-05-01T12:34:56.789GMT`);
/// `None` for anything else (missing, `null`, malformed, before 1970).
fn spark_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
    d.deserialize_any(TimeVisitor)
}

/// Accepts any JSON value: a string that parses is a time, anything else
/// is `None` (and is consumed, so the rest of the object still parses).
struct TimeVisitor;

impl<'de> Visitor<'de> for TimeVisitor {
    type Value = Option<SystemTime>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Spark time")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(parse_time(v))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Parses `yyyy-MM-ddTHH:mm:ss[.SSS](GMT|Z)`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use pipeline_telemetry_spark::api::parse_time;
///
/// let t = parse_time("2024-05-01T12:34:56.789GMT").unwrap();
/// assert_eq!(t, UNIX_EPOCH + Duration::from_millis(1_714_566_896_789));
/// assert!(parse_time("yesterday").is_none());
/// ```
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix("GMT").or_else(|| s.strip_suffix('Z'))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (h, mi, se) = (t.next()??, t.next()??, t.next()??);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    let nanos = match frac.len() {
        0 => 0,
        1..=9 if frac.bytes().all(|b| b.is_ascii_digit()) => {
            frac.parse::<u64>().ok()? * 10u64.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    let days = u64::try_from(days_from_civil(y, mo, da)).ok()?;
    let secs = days * 86_400 + h * 3_600 + mi * 60 + se;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos as u32))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_to_the_millisecond() {
        let t = parse_time("1970-01-01T00:00:00.000GMT");
        assert_eq!(t, Some(UNIX_EPOCH));
        let t = parse_time("2000-03-01T00:00:01Z");
        assert_eq!(t, Some(UNIX_EPOCH + Duration::from_secs(951_868_801)));
        for bad in [
            "",
            "1969-12-31T23:59:59.999GMT",
            "2024-13-01T00:00:00GMT",
            "2024-01-01 00:00:00GMT",
            "2024-01-01T00:00:00.1x3GMT",
            "2024-01-01T00:00:00",
            "999999999999999-01-01T00:00:00.000GMT",
            "-5-01-01T00:00:00GMT",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn one_bad_element_does_not_lose_the_others() {
        let body = br#"[{"jobId": 1, "status": "SUCCEEDED"}, {"jobId": "x"}, 3,
                        {"jobId": 2, "status": "WEIRD", "submissionTime": {"a": [1]},
                         "completionTime": 7, "numTasks": 4}]"#;
        let parsed = parse_list::<JobData>(body).expect("an array");
        assert_eq!(parsed.malformed, 2);
        assert_eq!(parsed.items.len(), 2);
        assert_eq!(parsed.items[1].status, JobStatus::Unknown);
        assert_eq!(parsed.items[1].submission_time, None);
        assert_eq!(parsed.items[1].completion_time, None);
        assert_eq!(parsed.items[1].num_tasks, 4);
        assert!(parse_list::<JobData>(b"{\"jobs\": []}").is_err());
        assert!(parse_list::<JobData>(b"[{\"jobId\": 1}").is_err());
    }
}

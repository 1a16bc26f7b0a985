//! Where an application's event log is, in the layouts Spark writes
//! (`EventLogFileWriters.scala`):
//!
//! - one file, `<app>` (`<app>.inprogress` while the application runs);
//! - rolling (`spark.eventLog.rolling.enabled=true`, the default since
//!   Spark 4.0): a directory `eventlog_v2_<app>` of `events_<N>_<app>`
//!   files, read in `N` order (from the last `.compact` one when the
//!   history server compacted them), and `appstatus_<app>[.inprogress]`;
//! - either compressed (`spark.eventLog.compress=true`, the default since
//!   Spark 4.0): the file names end in the codec, `.lz4`, `.lzf`,
//!   `.snappy` or `.zstd`. Those are not read here.
//!
//! `<app>` is the application id as Spark writes it in a file name.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use super::MAX_LOG_BYTES;

const IN_PROGRESS: &str = ".inprogress";
const COMPACTED: &str = ".compact";
const ROLLING_DIR: &str = "eventlog_v2_";
const EVENTS: &str = "events_";

/// An application's event log, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// JSON lines, in these files in this order (one, or a rolling log's).
    Plain(Vec<PathBuf>),
    /// Compressed with `codec` (the file's suffix, as Spark names it): not
    /// readable without that codec.
    Compressed {
        /// The (first) compressed file.
        path: PathBuf,
        /// `lz4`, `zstd`, ...
        codec: String,
    },
}

/// One log in the directory.
struct Log {
    /// The application (and attempt) part of its name.
    app: String,
    found: Found,
    in_progress: bool,
    modified: SystemTime,
}

/// The application id as Spark puts it in a file name
/// (`EventLogFileWriter.nameForAppAndAttempt`, `Utils.sanitizeDirName`).
fn sanitize(id: &str) -> String {
    id.replace([' ', ':', '/'], "-")
        .replace(['.', std::path::MAIN_SEPARATOR], "_")
        .to_lowercase()
}

/// The short names of Spark's compression codecs
/// (`CompressionCodec.shortCompressionCodecNames`), as log file suffixes.
const CODECS: [&str; 4] = ["lz4", "lzf", "snappy", "zstd"];

/// A log file's name without `.compact` and `.inprogress`, and its codec,
/// as Spark reads it (the last dot-separated part); `None` when the name
/// ends in something else than a codec (not a log).
fn split_codec(name: &str) -> Option<(&str, Option<&str>)> {
    let name = name.strip_suffix(COMPACTED).unwrap_or(name);
    let name = name.strip_suffix(IN_PROGRESS).unwrap_or(name);
    match name.rsplit_once('.') {
        Some((stem, codec)) => CODECS.contains(&codec).then_some((stem, Some(codec))),
        None => Some((name, None)),
    }
}

/// A rolling log's directory: its event files to read, in order.
fn rolling(dir: &Path) -> Option<(Found, SystemTime)> {
    let mut modified = std::fs::metadata(dir).ok()?.modified().ok()?;
    let mut files: Vec<(u64, bool, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(index) = split_codec(&name)
            .and_then(|_| name.strip_prefix(EVENTS))
            .and_then(|rest| rest.split('_').next())
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if let Some(m) = entry.metadata().ok().and_then(|m| m.modified().ok()) {
            modified = modified.max(m);
        }
        files.push((index, name.ends_with(COMPACTED), entry.path()));
    }
    files.sort();
    // A compacted file holds what the files before it held.
    let from = files.iter().rposition(|f| f.1).unwrap_or(0);
    let files: Vec<PathBuf> = files.into_iter().skip(from).map(|f| f.2).collect();
    let compressed = files.iter().find_map(|p| {
        let name = p.file_name()?.to_str()?;
        split_codec(name)?.1.map(|c| (p.clone(), c.to_owned()))
    });
    let found = match compressed {
        Some((path, codec)) => Found::Compressed { path, codec },
        None if files.is_empty() => return None,
        None => Found::Plain(files),
    };
    Some((found, modified))
}

/// The logs in `dir`, hidden files left out.
fn logs(dir: &Path) -> Vec<Log> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                return None;
            }
            let meta = e.metadata().ok()?;
            if meta.is_dir() {
                let app = name.strip_prefix(ROLLING_DIR)?.to_owned();
                let (found, modified) = rolling(&e.path())?;
                return Some(Log {
                    app,
                    found,
                    in_progress: false,
                    modified,
                });
            }
            if !meta.is_file() {
                return None;
            }
            let (app, codec) = split_codec(&name)?;
            let found = match codec {
                Some(codec) => Found::Compressed {
                    path: e.path(),
                    codec: codec.to_owned(),
                },
                None => Found::Plain(vec![e.path()]),
            };
            Some(Log {
                app: app.to_owned(),
                found,
                in_progress: name.ends_with(IN_PROGRESS),
                modified: meta.modified().ok()?,
            })
        })
        .collect()
}

/// The event log of application `app_id` in `dir` (finished, else still
/// being written), else, without an id, the newest log modified since
/// `since` whose application is named `name` (any name when `None`). A
/// compressed log is found as such: by id, or, when no readable log is
/// named so, the newest compressed one written since (its name cannot be
/// read).
pub(crate) fn find(
    dir: &Path,
    app_id: Option<&str>,
    name: Option<&str>,
    since: SystemTime,
) -> Option<Found> {
    let mut logs = logs(dir);
    // Readable first, finished first, newest first.
    logs.sort_by_key(|l| {
        (
            matches!(l.found, Found::Compressed { .. }),
            l.in_progress,
            std::cmp::Reverse(l.modified),
        )
    });
    if let Some(id) = app_id {
        let id = sanitize(id);
        return logs.into_iter().find(|l| l.app == id).map(|l| l.found);
    }
    logs.retain(|l| l.modified >= since);
    logs.sort_by_key(|l| {
        (
            matches!(l.found, Found::Compressed { .. }),
            std::cmp::Reverse(l.modified),
        )
    });
    logs.into_iter()
        .find(|l| match (&l.found, name) {
            (_, None) | (Found::Compressed { .. }, Some(_)) => true,
            (Found::Plain(files), Some(n)) => application(files).is_some_and(|(_, got)| got == n),
        })
        .map(|l| l.found)
}

/// The id and name of the application of a log (its start event, near the
/// top of its first file).
pub(crate) fn application(files: &[PathBuf]) -> Option<(String, String)> {
    let file = File::open(files.first()?).ok()?;
    BufReader::new(file.take(MAX_LOG_BYTES))
        .lines()
        .take(50)
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .find(|e| e["Event"] == "SparkListenerApplicationStart")
        .map(|e| {
            (
                e["App ID"].as_str().unwrap_or_default().to_owned(),
                e["App Name"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::event_log::read;
    use crate::event_log::tests::{assert_says_what_the_rest_api_said, fixture};

    /// A new empty directory for one test.
    fn scratch(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pt-spark-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    fn recorded() -> (String, String) {
        let log = std::fs::read_to_string(fixture("eventlog.jsonl")).expect("fixture");
        let id = read(&[fixture("eventlog.jsonl")]).expect("read").id;
        (log, id)
    }

    fn a_minute_ago() -> SystemTime {
        SystemTime::now() - Duration::from_secs(60)
    }

    #[test]
    fn a_log_is_found_by_id_or_as_the_newest_of_its_name() {
        let dir = scratch("find");
        let (log, id) = recorded();
        let since = a_minute_ago();
        assert_eq!(find(&dir, Some(&id), None, since), None);
        std::fs::write(dir.join(format!("{id}.inprogress")), &log).expect("write");
        assert_eq!(
            find(&dir, Some(&id), None, since),
            Some(Found::Plain(vec![dir.join(format!("{id}.inprogress"))]))
        );
        std::fs::write(dir.join(&id), &log).expect("write");
        assert_eq!(
            find(&dir, Some(&id), None, since),
            Some(Found::Plain(vec![dir.join(&id)]))
        );
        let other = log.replace("pt-spark-test", "another-app");
        std::fs::write(dir.join("local-1"), other).expect("write");
        // Not a log: ignored.
        std::fs::write(dir.join("notes.txt"), "notes").expect("write");
        let Some(Found::Plain(named)) = find(&dir, None, Some("pt-spark-test"), since) else {
            panic!("by name");
        };
        assert!(named[0].starts_with(&dir));
        assert_eq!(
            application(&named).map(|(_, n)| n).as_deref(),
            Some("pt-spark-test")
        );
        assert_eq!(
            find(&dir, None, Some("no-such-app"), since),
            None,
            "no log of that name"
        );
        let later = SystemTime::now() + Duration::from_secs(3600);
        assert_eq!(find(&dir, None, None, later), None, "none written since");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The recorded real log split into eleven files of a rolling log, as
    /// Spark names them: found by id and by name, read in index order
    /// (`events_2` before `events_10`), it gives what the REST API gave.
    /// The old code found no log in a directory.
    #[test]
    fn a_rolling_log_is_read_in_index_order() {
        let dir = scratch("rolling");
        let (log, id) = recorded();
        let rolling = dir.join(format!("eventlog_v2_{id}"));
        std::fs::create_dir_all(&rolling).expect("dir");
        let lines: Vec<&str> = log.lines().collect();
        let chunks: Vec<String> = lines.chunks(4).map(|c| c.join("\n") + "\n").collect();
        assert_eq!(chunks.len(), 11);
        for (i, chunk) in chunks.iter().enumerate() {
            let name = format!("events_{}_{id}", i + 1);
            std::fs::write(rolling.join(name), chunk).expect("write");
        }
        std::fs::write(rolling.join(format!("appstatus_{id}")), "").expect("write");
        let want: Vec<PathBuf> = (1..=11)
            .map(|i| rolling.join(format!("events_{i}_{id}")))
            .collect();
        let by_id = find(&dir, Some(&id), None, a_minute_ago());
        assert_eq!(by_id, Some(Found::Plain(want.clone())));
        let by_name = find(&dir, None, Some("pt-spark-test"), a_minute_ago());
        assert_eq!(by_name, Some(Found::Plain(want.clone())));
        assert_eq!(find(&dir, None, None, a_minute_ago()), by_name);
        assert_says_what_the_rest_api_said(&read(&want).expect("read"));

        // Compacted by a history server: the files up to the compacted one
        // are replaced by it.
        let compacted = rolling.join(format!("events_5_{id}.compact"));
        std::fs::write(&compacted, chunks[..5].concat()).expect("write");
        for i in 1..5 {
            let _ = std::fs::remove_file(rolling.join(format!("events_{i}_{id}")));
        }
        let Some(Found::Plain(files)) = find(&dir, Some(&id), None, a_minute_ago()) else {
            panic!("found");
        };
        assert_eq!(files[0], compacted);
        assert_eq!(&files[1..], &want[5..]);
        assert_says_what_the_rest_api_said(&read(&files).expect("read"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Compressed logs, single or rolling, are found as such (Spark names
    /// the file after its codec), by id, or as the newest when no readable
    /// log has the name.
    #[test]
    fn a_compressed_log_is_found_as_compressed() {
        let (log, id) = recorded();
        let dir = scratch("compressed");
        let lz4 = dir.join(format!("{id}.lz4"));
        std::fs::write(&lz4, b"\x04\x22\x4d\x18").expect("write");
        let want = Some(Found::Compressed {
            path: lz4,
            codec: "lz4".into(),
        });
        assert_eq!(find(&dir, Some(&id), None, a_minute_ago()), want);
        assert_eq!(
            find(&dir, None, Some("pt-spark-test"), a_minute_ago()),
            want
        );
        // A readable log of that name wins.
        std::fs::write(dir.join(&id), &log).expect("write");
        assert_eq!(
            find(&dir, Some(&id), None, a_minute_ago()),
            Some(Found::Plain(vec![dir.join(&id)]))
        );
        let _ = std::fs::remove_dir_all(&dir);

        let dir = scratch("compressed-rolling");
        let rolling = dir.join(format!("eventlog_v2_{id}"));
        std::fs::create_dir_all(&rolling).expect("dir");
        let zstd = rolling.join(format!("events_1_{id}.zstd"));
        std::fs::write(&zstd, b"\x28\xb5\x2f\xfd").expect("write");
        std::fs::write(rolling.join(format!("appstatus_{id}.inprogress")), "").expect("write");
        let want = Some(Found::Compressed {
            path: zstd,
            codec: "zstd".into(),
        });
        assert_eq!(find(&dir, Some(&id), None, a_minute_ago()), want);
        assert_eq!(find(&dir, None, None, a_minute_ago()), want);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

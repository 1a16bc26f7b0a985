//! Origin detection: the fields that let the Agent attribute metrics to a
//! container (`|c:`), an external environment (`|e:`) and a tag
//! cardinality (`|card:`).

use std::path::Path;

/// The container id from `/proc/self/cgroup` as the Agent expects it:
/// `ci-<id>` when a container id is in a cgroup path, else (cgroup v2)
/// `in-<inode>` of the process's cgroup directory.
pub fn detect_container_id() -> Option<String> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    if let Some(id) = container_id_from_cgroup(&cgroup) {
        return Some(format!("ci-{id}"));
    }
    cgroup_inode(&cgroup, Path::new("/sys/fs/cgroup")).map(|i| format!("in-{i}"))
}

/// Finds a container id in the paths of a `/proc/<pid>/cgroup` file: a
/// 64-hex-digit id, or a 32-hex-digit id followed by `-<digits>` (ECS),
/// or a UUID (Fargate), as the official clients do.
pub fn container_id_from_cgroup(cgroup: &str) -> Option<String> {
    for line in cgroup.lines() {
        let path = line.splitn(3, ':').nth(2)?;
        for seg in path.split('/') {
            let seg = seg.strip_suffix(".scope").unwrap_or(seg);
            let seg = seg
                .rsplit(['-', ':'])
                .next()
                .filter(|s| s.len() == 64)
                .unwrap_or(seg);
            if is_hex(seg, 64) {
                return Some(seg.to_owned());
            }
            if let Some((hex, num)) = seg.split_once('-') {
                if is_hex(hex, 32) && !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
                    return Some(seg.to_owned());
                }
            }
            if is_uuid(seg) {
                return Some(seg.to_owned());
            }
        }
    }
    None
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| is_hex(p, *n))
}

fn cgroup_inode(cgroup: &str, root: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    // cgroup v2: a single "0::<path>" line.
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = root.join(path.trim_start_matches('/'));
    let ino = std::fs::metadata(dir).ok()?.ino();
    // Inodes 0 and 1 are not meaningful (host cgroup namespace root).
    (ino > 2).then_some(ino)
}

/// The origin-detection fields, as appended to every line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) container_id: Option<String>,
    pub(crate) external_env: Option<String>,
    pub(crate) cardinality: Option<String>,
}

fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control() && *c != '|').collect()
}

impl Origin {
    /// `|c:..|e:..|card:..`, the fields that are set.
    pub(crate) fn suffix(&self) -> String {
        let mut s = String::new();
        for (prefix, v) in [
            ("|c:", &self.container_id),
            ("|e:", &self.external_env),
            ("|card:", &self.cardinality),
        ] {
            if let Some(v) = v.as_deref().map(clean).filter(|v| !v.is_empty()) {
                s.push_str(prefix);
                s.push_str(&v);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_docker_ecs_and_fargate_ids() {
        let docker =
            "12:memory:/docker/3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860\n";
        assert_eq!(
            container_id_from_cgroup(docker).as_deref(),
            Some("3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860")
        );
        let systemd = "0::/system.slice/docker-3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860.scope\n";
        assert!(container_id_from_cgroup(systemd).is_some());
        let ecs = "9:perf_event:/ecs/haissam-ecs-classic/5a0d5ceddf6c44c1928d367a815d890f/34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376\n";
        assert!(container_id_from_cgroup(ecs).is_some());
        let fargate = "1:name=systemd:/ecs/34dc0b5e626f2c5c4c5170e34b10e765-1234567890\n";
        assert_eq!(
            container_id_from_cgroup(fargate).as_deref(),
            Some("34dc0b5e626f2c5c4c5170e34b10e765-1234567890")
        );
        assert_eq!(
            container_id_from_cgroup("0::/user.slice/session-1.scope\n"),
            None
        );
    }

    #[test]
    fn suffix_strips_separators() {
        let o = Origin {
            container_id: Some("ci-abc".into()),
            external_env: Some("it-false,cn-x|y\n".into()),
            cardinality: Some("high".into()),
        };
        assert_eq!(o.suffix(), "|c:ci-abc|e:it-false,cn-xy|card:high");
    }
}

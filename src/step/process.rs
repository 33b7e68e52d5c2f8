//! The processes a step started, as the journal remembers them: enough to
//! tell, after relctl itself was killed, whether they are still running on
//! this machine, so that a resumed run waits for them or ends them instead
//! of running the step a second time beside them.
//!
//! A step's command leads its own process group. The record names the group
//! and, to tell it from a later process that reused the number, the
//! leader's start time (clock ticks since boot, /proc/PID/stat field 22),
//! the boot it started in (/proc/sys/kernel/random/boot_id) and the host.
//! Linux does not hand out a pid while a process group of that id exists,
//! so a group that is still there with no leader is still the step's.

use std::time::{Duration, Instant, SystemTime};

use crate::event::Event;

/// How long a stopped step's processes (timeout, interrupt, a leftover
/// ended on resume) get to exit after SIGTERM before the whole group gets
/// SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// A step's process group, as journaled when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRecord {
    pub pgid: i32,
    /// The leader's start time in clock ticks since boot.
    pub start_ticks: u64,
    pub boot_id: String,
    pub host: String,
    /// Wall-clock start, RFC 3339 (for people and for the step's deadline).
    pub started_at: String,
}

impl ProcessRecord {
    /// The group `pgid` (whose leader has that pid) as it is now.
    pub fn of_group(pgid: i32) -> Option<ProcessRecord> {
        Some(ProcessRecord {
            pgid,
            start_ticks: start_ticks(pgid)?,
            boot_id: boot_id()?,
            host: host_name(),
            started_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        })
    }

    /// The journal's event for it.
    pub fn event(&self, key: &str) -> Event {
        Event::StepProcess {
            key: key.to_string(),
            pgid: self.pgid,
            start_ticks: self.start_ticks,
            boot_id: self.boot_id.clone(),
            host: self.host.clone(),
            started_at: self.started_at.clone(),
        }
    }

    /// The record a journal event holds, if it is one (and names a group
    /// that could be a step's: never init's).
    pub fn from_event(event: &Event) -> Option<(String, ProcessRecord)> {
        match event {
            Event::StepProcess { key, pgid, start_ticks, boot_id, host, started_at } if *pgid > 1 => Some((
                key.clone(),
                ProcessRecord {
                    pgid: *pgid,
                    start_ticks: *start_ticks,
                    boot_id: boot_id.clone(),
                    host: host.clone(),
                    started_at: started_at.clone(),
                },
            )),
            _ => None,
        }
    }

    /// This machine's name, as records and locks name it.
    pub fn this_host() -> String {
        host_name()
    }

    /// Whether it was started on this machine (a resume elsewhere cannot see it).
    pub fn on_this_host(&self) -> bool {
        self.host == host_name()
    }

    /// Whether the group still has a process on this machine, since the boot it started in.
    pub fn still_running(&self) -> bool {
        if !self.on_this_host() || boot_id().as_deref() != Some(self.boot_id.as_str()) {
            return false;
        }
        if !group_alive(self.pgid) {
            return false;
        }
        // A leader with another start time is a stranger that reused the pid
        // after the group was gone; no leader means the group outlived it.
        start_ticks(self.pgid).is_none_or(|t| t == self.start_ticks)
    }

    /// How long ago it started: by the kernel's clock while its leader is
    /// there (immune to the wall clock being set), else by the wall clock.
    pub fn age(&self) -> Option<Duration> {
        if start_ticks(self.pgid) == Some(self.start_ticks)
            && let Some(age) = ticks_age(self.start_ticks)
        {
            return Some(age);
        }
        let since = humantime::parse_rfc3339(&self.started_at).ok()?;
        SystemTime::now().duration_since(since).ok()
    }

    /// SIGTERM to the whole group, then SIGKILL if anything is left after
    /// `grace`; returns whether the group is gone (it is given `grace` twice over).
    pub fn stop(&self, grace: Duration) -> bool {
        if !self.still_running() {
            return true;
        }
        signal_group(self.pgid, libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !group_alive(self.pgid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(self.pgid, libc::SIGKILL);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.still_running() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        !self.still_running()
    }
}

/// Whether any process of the group is still there.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// Sends `signal` to every process of the group.
pub fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: a plain syscall on a process group a step created.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces
/// and parentheses, so fields are counted after its last `)`.
fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, so starttime (22) is the 20th.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Time since a process started `ticks` after boot, by /proc/uptime.
fn ticks_age(ticks: u64) -> Option<Duration> {
    let uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    let started = ticks as f64 / hz as f64;
    Some(Duration::from_secs_f64((uptime - started).max(0.0)))
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok().map(|s| s.trim().to_string())
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, as passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    use super::*;

    #[test]
    fn a_group_is_known_while_it_runs_and_gone_once_stopped() {
        let mut child = std::process::Command::new("sleep").arg("30").process_group(0).spawn().unwrap();
        let pgid = child.id() as i32;
        let rec = ProcessRecord::of_group(pgid).unwrap();
        let (key, back) = ProcessRecord::from_event(&rec.event("execute.0")).unwrap();
        assert_eq!((key.as_str(), &back), ("execute.0", &rec));
        assert!(back.still_running());
        // The same pid with another start time is somebody else.
        let stranger = ProcessRecord { start_ticks: rec.start_ticks + 1, ..rec.clone() };
        assert!(!stranger.still_running());
        let other_boot = ProcessRecord { boot_id: "x".into(), ..rec.clone() };
        assert!(!other_boot.still_running());
        assert!(rec.age().unwrap() < Duration::from_secs(5), "{:?}", rec.age());
        std::thread::spawn(move || child.wait());
        assert!(rec.stop(Duration::from_secs(2)));
        assert!(!rec.still_running());
    }

    #[test]
    fn init_s_group_is_never_a_steps() {
        let rec = ProcessRecord {
            pgid: 1,
            start_ticks: 1,
            boot_id: "b".into(),
            host: "h".into(),
            started_at: "2026-12-01T00:00:00Z".into(),
        };
        // Group 1 would be init's: never signalled.
        assert_eq!(ProcessRecord::from_event(&rec.event("k")), None);
    }
}

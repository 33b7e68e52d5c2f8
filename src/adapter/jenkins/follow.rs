//! Following a triggered build: through the queue until it starts, its
//! console streamed in constant memory (resumed after a dropped
//! connection), then its result.

use std::io::Write;
use std::time::Duration;

use super::super::remote::{self, Repeat};
use crate::step::{AdapterError, RemoteKind, StepFailure, StepRun};

use super::client::{Build, Jenkins, QueueItem, absolute, explain, failure, with_slash};
use super::{CONSOLE_BURST, FOLLOW, JenkinsAction, MAX_CONSOLE_RESUMES, MAX_PARTIAL_LINE, SYSTEM};

impl JenkinsAction {
    pub(super) async fn wait_for_queue(
        &self,
        run: &StepRun<'_>,
        jenkins: &Jenkins,
        job: &str,
        queue_url: &str,
    ) -> Result<(u64, String), StepFailure> {
        let url = format!("{queue_url}api/json");
        let call = format!("GET {}api/json", queue_url.trim_start_matches(&jenkins.base));
        let mut last_why = None;
        loop {
            let item: QueueItem = match jenkins.get_json(&url, &call).await {
                Ok(item) => item,
                Err(e) if e.status == Some(404) => {
                    // Jenkins forgets an item five minutes after it left the
                    // queue (Queue.leftItems); the build it became still
                    // knows its queue id.
                    let id = queue_url.trim_end_matches('/').rsplit('/').next().and_then(|i| i.parse::<u64>().ok());
                    if let Some(id) = id
                        && let Some(found) = jenkins.build_of_item(job, id).await.map_err(|e| failure(explain(e, job)))?
                    {
                        run.log(&format!("queue item {id} is forgotten; it became {job} #{}", found.0));
                        return Ok(found);
                    }
                    return Err(StepFailure::from(AdapterError::Remote {
                        system: SYSTEM,
                        call,
                        message: "the queue item is gone (Jenkins forgets items 5 minutes after they leave the queue) and no recent build of the job came from it".into(),
                        kind: RemoteKind::NotFound,
                        help: Some(format!("find the build of {job} in the Jenkins UI")),
                    }));
                }
                Err(e) => return Err(failure(explain(e, job))),
            };
            if item.cancelled {
                // A cancelled item no longer says why it waited; the last reason seen is
                // usually why someone cancelled it (no executor, a blocked resource).
                let why = match item.why.or(last_why) {
                    Some(why) => format!("it was waiting because: {why}"),
                    None => "no reason given".into(),
                };
                return Err(StepFailure::from(
                    AdapterError::refused(format!(
                        "{SYSTEM}: {call}: the queued build of {job} was cancelled in Jenkins ({why})"
                    ))
                    .with_help("trigger it again when Jenkins can run it"),
                ));
            }
            if let Some(exe) = item.executable {
                return Ok((exe.number, with_slash(&absolute(&jenkins.base, &exe.url))));
            }
            if item.why != last_why {
                if let Some(why) = &item.why {
                    run.log(&format!("waiting in the queue: {why}"));
                }
                last_why = item.why;
            }
            tokio::time::sleep(jenkins.poll).await;
        }
    }

    /// Follows `progressiveText` until Jenkins says there is no more, writing
    /// the console to a file in the run directory and to the step's output,
    /// a chunk at a time (constant memory whatever the log size).
    pub(super) async fn stream_console(
        &self,
        run: &StepRun<'_>,
        jenkins: &Jenkins,
        job: &str,
        number: u64,
        build_url: &str,
    ) -> Result<(), StepFailure> {
        let file = match &run.env.info().run_dir {
            Some(dir) => {
                let name = format!("{}-{}-{number}.console.log", run.key, job.replace('/', "_"));
                // From the start again on a re-attach: the file ends up whole either way.
                Some(std::io::BufWriter::new(
                    std::fs::File::create(dir.join(name))
                        .map_err(|e| StepFailure::from(AdapterError::Journal(format!("cannot write the console log: {e}"))))?,
                ))
            }
            None => None,
        };
        let mut console = Console { run, file, partial: Vec::new() };
        let call = format!("GET {}logText/progressiveText", build_url.trim_start_matches(&jenkins.base));
        // `start` is only ever an offset Jenkins gave (X-Text-Size): it counts
        // bytes of the log file, not of the answer, which differs from it
        // (LF sent as CRLF by LineEndNormalizingWriter). After a dropped
        // connection the same `start` is asked for again: the answer is the
        // same text, so the `seen` bytes already handled are skipped.
        let mut start: u64 = 0;
        let mut seen: u64 = 0;
        let mut dropped = 0;
        loop {
            let url = format!("{build_url}logText/progressiveText?start={start}");
            let mut response =
                remote::send_streaming(SYSTEM, &call, Repeat::Safe, FOLLOW, || jenkins.request(reqwest::Method::GET, &url))
                    .await
                    .map_err(|e| failure(explain(e, job)))?;
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let more = header("X-More-Data").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let next: Option<u64> = header("X-Text-Size").and_then(|v| v.parse().ok());
            let mut received = 0u64;
            let broken = loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        let already = seen.saturating_sub(received).min(chunk.len() as u64) as usize;
                        received += chunk.len() as u64;
                        if already < chunk.len() {
                            console.push(&chunk[already..])?;
                        }
                        seen = seen.max(received);
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            if let Some(e) = broken {
                // The connection dropped mid-answer: ask again from the first
                // byte that did not arrive, a few times, before giving up.
                dropped += 1;
                if dropped > MAX_CONSOLE_RESUMES {
                    return Err(StepFailure::from(AdapterError::remote(
                        SYSTEM,
                        call,
                        RemoteKind::Transient,
                        format!("the console stream kept breaking ({e})"),
                    )));
                }
                tokio::time::sleep(jenkins.poll).await;
                continue;
            }
            // Jenkins answers a `start` past the end of the log from byte 0
            // (stapler LargeText: "text rolled over"): what came is the log
            // again from its start, not the text after `start`.
            if next.is_some_and(|n| n < start) {
                console.note(&format!("the console log restarted in Jenkins (it is now {} bytes, relctl had read {start}): what follows is it from the beginning", next.unwrap_or_default()))?;
            }
            start = next.unwrap_or(start + received);
            seen = 0;
            // A complete answer: the next break is a new one.
            dropped = 0;
            if !more {
                break;
            }
            // A build still writing its log: ask again after the poll interval,
            // at once when a big answer suggests more is already there.
            if received < CONSOLE_BURST {
                tokio::time::sleep(jenkins.poll).await;
            }
        }
        console.finish()
    }

    pub(super) async fn wait_for_result(
        &self,
        jenkins: &Jenkins,
        build_url: &str,
        job: &str,
        number: u64,
    ) -> Result<Build, StepFailure> {
        let url = format!("{build_url}api/json?tree=building,result,duration");
        let call = format!("GET {}api/json", build_url.trim_start_matches(&jenkins.base));
        loop {
            let build: Build = jenkins.get_json(&url, &call).await.map_err(|e| failure(explain(e, job)))?;
            if !build.building && build.result.is_some() {
                return Ok(build);
            }
            tracing::debug!("{job} #{number} still building");
            tokio::time::sleep(jenkins.poll.min(Duration::from_millis(500))).await;
        }
    }
}

/// Where the console goes: the step's output (a block of whole lines per
/// event) and the file, both with secrets masked.
struct Console<'a, 'r> {
    run: &'a StepRun<'r>,
    file: Option<std::io::BufWriter<std::fs::File>>,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
}

impl Console<'_, '_> {
    fn push(&mut self, chunk: &[u8]) -> Result<(), StepFailure> {
        self.partial.extend_from_slice(chunk);
        let cut = match self.partial.iter().rposition(|b| *b == b'\n') {
            Some(end) => end + 1,
            // A line without end in sight (progress bars, binary output) goes on
            // in pieces, cut between characters, so memory stays bounded.
            None if self.partial.len() > MAX_PARTIAL_LINE => {
                let mut cut = MAX_PARTIAL_LINE;
                while cut > MAX_PARTIAL_LINE - 4 && (self.partial[cut] & 0xC0) == 0x80 {
                    cut -= 1;
                }
                cut
            }
            None => return Ok(()),
        };
        let block: Vec<u8> = self.partial.drain(..cut).collect();
        self.write(&block)
    }

    fn write(&mut self, block: &[u8]) -> Result<(), StepFailure> {
        let received = String::from_utf8_lossy(block);
        let masked = self.run.env.redact(&readable(&received));
        if let Some(f) = self.file.as_mut() {
            // Text with nothing to remove or mask is written as received, so
            // the file keeps what Jenkins has (invalid UTF-8 included).
            let bytes = if masked == received { block } else { masked.as_bytes() };
            f.write_all(bytes)
                .map_err(|e| StepFailure::from(AdapterError::Journal(format!("cannot write the console log: {e}"))))?;
        }
        self.run.log(masked.strip_suffix('\n').unwrap_or(&masked));
        Ok(())
    }

    /// A line of relctl's own in the step's output and the file.
    fn note(&mut self, text: &str) -> Result<(), StepFailure> {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.write(&rest)?;
        }
        self.write(format!("[relctl] {text}\n").as_bytes())
    }

    fn finish(mut self) -> Result<(), StepFailure> {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.write(&rest)?;
        }
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(|e| StepFailure::from(AdapterError::Journal(format!("cannot write the console log: {e}"))))?;
        }
        Ok(())
    }
}

/// The console as Jenkins' Console Output page shows it: without the
/// console notes (`ESC[8mha:<base64>ESC[0m`, hidden markup that plain
/// progressiveText passes raw since Jenkins 2.509, JENKINS-76387) and with
/// LF line ends (progressiveText sends each as CRLF).
fn readable(text: &str) -> std::borrow::Cow<'_, str> {
    const NOTE: &str = "\u{1b}[8mha:";
    const END: &str = "\u{1b}[0m";
    if !text.contains(NOTE) && !text.contains('\r') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(NOTE) {
        out.push_str(&rest[..at]);
        // A note never spans lines: one whose end is not on its line (cut
        // off) hides only the rest of that line.
        let line_end = rest[at..].find('\n').map_or(rest.len(), |n| at + n);
        match rest[at..line_end].find(END) {
            Some(end) => rest = &rest[at + end + END.len()..],
            None => rest = &rest[line_end..],
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out.replace("\r\n", "\n"))
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn console_notes_and_crlf_are_not_shown() {
        let raw = "\u{1b}[8mha:////4AAAAFB+LCAAAAAAAAP9b\u{1b}[0m[Pipeline] sh\r\n+ deploy.sh\r\nplain\n";
        assert_eq!(readable(raw), "[Pipeline] sh\n+ deploy.sh\nplain\n");
        assert_eq!(readable("nothing to do\n"), "nothing to do\n");
        // A note cut off hides the rest of its line only.
        assert_eq!(readable("a \u{1b}[8mha:AAAA\nnext line\n"), "a \nnext line\n");
    }
}

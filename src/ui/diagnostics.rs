//! Runbook problems as a person reads them in a terminal: the same text as
//! in a log, with `error:` in red, the marker under the problem in red and
//! `= help:` in cyan. Plain when colour is off (a pipe, NO_COLOR).

use console::style;

/// `text` as rendered by the validator, coloured for stderr when it can be.
pub fn colour(text: &str) -> String {
    if !console::colors_enabled_stderr() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, end) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        let coloured = if let Some(rest) = body.strip_prefix("error:") {
            format!("{}{rest}", style("error:").red().bold().for_stderr())
        } else if let Some(rest) = body.trim_start().strip_prefix("= help:") {
            let indent = &body[..body.len() - body.trim_start().len()];
            format!("{indent}{}{rest}", style("= help:").cyan().for_stderr())
        } else if body.trim_start().starts_with('|') && body.contains('^') {
            // The marker line: `  |     ^^^^ did you mean ...`
            let at = body.find('^').unwrap_or(body.len());
            format!("{}{}", &body[..at], style(&body[at..]).red().bold().for_stderr())
        } else if let Some(rest) = body.strip_prefix(" -->") {
            format!("{}{rest}", style(" -->").blue().bold().for_stderr())
        } else {
            body.to_string()
        };
        out.push_str(&coloured);
        out.push_str(end);
    }
    out
}

//! Load, validate and plan never panic, whatever the runbook. Two harnesses
//! drive [`load_validate_plan`]: the coverage-guided cargo-fuzz target in
//! `fuzz/` (`scripts/fuzz.sh`), and a stable property test here over
//! mutations of the shipped runbooks (a seeded generator, so a failure
//! reproduces). `RELCTL_FUZZ_ITERATIONS` runs it longer (the suite runs
//! 1,000); `RELCTL_FUZZ_SEED` picks another sequence.

use std::path::Path;
use std::sync::Arc;

/// Loads and validates `text` as a runbook and, when it is valid, plans and
/// renders it with every var set: what `relctl validate` and `relctl plan`
/// do. Returns whether the runbook was valid. Never panics (that is what
/// the harnesses check).
#[must_use]
pub fn load_validate_plan(text: &str) -> bool {
    let registry = crate::adapter::registry();
    match crate::runbook::load_str(Path::new("fuzz.yaml"), text, &registry) {
        Ok(rb) => {
            let vars: Vec<(String, String)> = rb.vars.iter().map(|v| (v.name.clone(), "1.2.3".to_string())).collect();
            if let Ok(plan) = crate::plan::Plan::build(Arc::new(rb), &vars, &|_| Some("x".into()), false) {
                let _ = plan.render();
            }
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// xorshift64*: small, seeded, good enough to pick mutations.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Pieces that reach the parser's and validator's corners.
    const TOKENS: &[&str] = &[
        "${{",
        "}}",
        "${{ vars.x }}",
        "${{ steps.a.outputs.b }}",
        "${{ secrets.S }}",
        ":",
        ": ",
        "- ",
        "\n",
        "\n  ",
        "  ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "'",
        "\"",
        "#",
        "&a ",
        "*a",
        "!!binary ",
        "~",
        "null",
        "1e308",
        "-1",
        "0",
        "18446744073709551615s",
        "5124095576030432h",
        "99999999999",
        "é",
        "\t",
        "\r\n",
        "gate: x",
        "confirm: y",
        "parallel:",
        "run: true",
        "retry: { attempts: 100, delay: 1h, backoff: 10 }",
        "timeout: 1ms",
        "when: ",
        "approvers: [a]",
        "id: dup",
        "ecs.rollback: { cluster: a, service: b }",
        "s3.rollback: { bucket: b, to: x }",
    ];

    fn seeds() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        for dir in ["examples", "runbooks"] {
            let mut files: Vec<_> = std::fs::read_dir(root.join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            for f in files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
                out.push(std::fs::read_to_string(f).unwrap());
            }
        }
        assert!(!out.is_empty(), "no runbooks to start from");
        out
    }

    /// One to four edits of `text`, on character boundaries.
    fn mutate(text: &str, rng: &mut Rng) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..=rng.below(4) {
            let at = rng.below(chars.len() + 1);
            match rng.below(4) {
                0 => {
                    let end = (at + rng.below(40)).min(chars.len());
                    chars.drain(at..end);
                }
                1 => {
                    let token: Vec<char> = TOKENS[rng.below(TOKENS.len())].chars().collect();
                    chars.splice(at..at, token);
                }
                2 => {
                    let end = (at + rng.below(200)).min(chars.len());
                    let copy: Vec<char> = chars[at..end].to_vec();
                    chars.splice(at..at, copy);
                }
                _ => {
                    if at < chars.len() {
                        chars[at] = char::from_u32(rng.below(0x250) as u32).unwrap_or('?');
                    }
                }
            }
        }
        chars.into_iter().collect()
    }

    #[test]
    fn no_mutated_runbook_makes_load_validate_or_plan_panic() {
        let iterations: usize = std::env::var("RELCTL_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
        let seed: u64 = std::env::var("RELCTL_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5EED_CAFE);
        let seeds = seeds();
        let mut rng = Rng(seed);
        let (mut valid, mut invalid) = (0usize, 0usize);
        let started = std::time::Instant::now();
        for i in 0..iterations {
            let base = &seeds[rng.below(seeds.len())];
            let text = mutate(base, &mut rng);
            let outcome = std::panic::catch_unwind(|| super::load_validate_plan(&text));
            match outcome {
                Ok(true) => valid += 1,
                Ok(false) => invalid += 1,
                Err(cause) => {
                    let why =
                        cause.downcast_ref::<String>().cloned().or_else(|| cause.downcast_ref::<&str>().map(ToString::to_string));
                    panic!("iteration {i} (seed {seed}) panicked ({}) on:\n{text}", why.unwrap_or_default());
                }
            }
        }
        eprintln!(
            "fuzz: {iterations} runbooks ({valid} valid, {invalid} invalid) in {:.1}s, seed {seed}",
            started.elapsed().as_secs_f64()
        );
        assert!(valid > 0 && invalid > 0, "the mutations should produce both ({valid} valid, {invalid} invalid)");
    }
}

//! `cargo xtask demo [--port N] [--headless "PROMPT" [--max-tokens N]]`: the
//! chat page in www/.
//!
//! Builds the npm package (as `cargo xtask pkg`), fetches the default model
//! once, then serves www/ + pkg/ + the cached model on 127.0.0.1 with
//! `tools/demo/serve.mjs` (so the page loads the model without internet).
//! With `--headless`, `tests/browser/demo-headless.mjs` instead opens the page
//! in headless Chromium, sends PROMPT and prints the streamed reply.

use std::process::Command;

use crate::pkg::pkg;
use crate::{fetch_model, model_dir, npm_install, root, run, step, Res};

/// What the demo command was asked for.
#[derive(Debug, PartialEq, Eq)]
struct DemoArgs {
    port: u16,
    headless: Option<String>,
    max_tokens: Option<u32>,
}

fn parse(args: &[&str]) -> Res<DemoArgs> {
    let mut out = DemoArgs {
        port: 8080,
        headless: None,
        max_tokens: None,
    };
    let mut it = args.iter();
    while let Some(&flag) = it.next() {
        let mut value = || {
            it.next()
                .copied()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--port" => {
                let v = value()?;
                out.port = v.parse().map_err(|_| format!("--port {v}: not a port"))?;
            }
            "--headless" => out.headless = Some(value()?.to_string()),
            "--max-tokens" => {
                let v = value()?;
                out.max_tokens = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--max-tokens {v}: not a positive number"))?,
                );
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if out.max_tokens.is_some() && out.headless.is_none() {
        return Err("--max-tokens only applies with --headless".into());
    }
    Ok(out)
}

pub fn demo(args: &[&str]) -> Res {
    let args = parse(args)?;
    // The server and the page's model mirror read the cache from here.
    std::env::set_var("EDGE_LLM_MODEL_DIR", model_dir());
    pkg()?;
    fetch_model()?;
    match args.headless {
        None => {
            // Runs until Ctrl-C, which reaches node too (same process group).
            println!("\n==> serving the demo (Ctrl-C stops)");
            run(Command::new("node")
                .current_dir(root())
                .arg("tools/demo/serve.mjs")
                .args(["--port", &args.port.to_string()]))
        }
        Some(prompt) => {
            step("npm packages (tests/browser)", || {
                npm_install(&root().join("tests/browser"), "playwright-core")
            })?;
            let mut node = Command::new("node");
            node.current_dir(root())
                .arg("tests/browser/demo-headless.mjs")
                .arg(&prompt);
            if let Some(n) = args.max_tokens {
                node.args(["--max-tokens", &n.to_string()]);
            }
            step("demo: one chat turn in headless Chromium", || {
                run(&mut node)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        assert_eq!(
            parse(&[]).unwrap(),
            DemoArgs {
                port: 8080,
                headless: None,
                max_tokens: None
            }
        );
        let a = parse(&[
            "--headless",
            "Hi there",
            "--max-tokens",
            "8",
            "--port",
            "9000",
        ])
        .unwrap();
        assert_eq!(a.headless.as_deref(), Some("Hi there"));
        assert_eq!(a.max_tokens, Some(8));
        assert_eq!(a.port, 9000);
    }

    #[test]
    fn rejects_bad_flags() {
        assert!(parse(&["--headless"]).is_err());
        assert!(parse(&["--port", "http"]).is_err());
        assert!(parse(&["--max-tokens", "0", "--headless", "x"]).is_err());
        assert!(parse(&["--max-tokens", "4"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
    }
}

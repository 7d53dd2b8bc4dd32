//! The `edge-llm` command line: generate, score, tokenize, fetch, info.
//!
//! Arguments are parsed by hand: six flags do not need a parser crate, and
//! the binary stays small.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use edge_llm::engine::{
    BackendChoice, ChatMessage, Engine, Flow, GenerateOptions, LoadOptions, SamplerParams,
};
use edge_llm::{gguf, models, tokenizer::Tokenizer, Error, Result};

const USAGE: &str = "usage:
  edge-llm generate --model PATH|NAME --prompt TEXT [--max-tokens N] [--chat] [--system TEXT]
                    [--temperature T] [--top-k K] [--top-p P] [--min-p M] [--repeat-penalty R]
                    [--seed S] [--stop TEXT] [--ctx N] [--backend auto|gpu|cpu] [--json]
  edge-llm score    --model PATH|NAME --text-file F [--max-tokens N] [--backend B] [--json]
  edge-llm tokenize --model PATH|NAME --text TEXT [--json]
  edge-llm fetch    NAME
  edge-llm info     --model PATH|NAME
known models: smollm2-135m";

/// Flags after the command: `--name value` pairs and bare `--switch`es.
struct Args {
    values: HashMap<String, Vec<String>>,
    switches: Vec<String>,
    positional: Vec<String>,
}

const SWITCHES: &[&str] = &["chat", "json"];

impl Args {
    fn parse(raw: &[String]) -> Result<Args> {
        let mut a = Args {
            values: HashMap::new(),
            switches: Vec::new(),
            positional: Vec::new(),
        };
        let mut it = raw.iter();
        while let Some(arg) = it.next() {
            if let Some(name) = arg.strip_prefix("--") {
                if SWITCHES.contains(&name) {
                    a.switches.push(name.to_string());
                } else {
                    let v = it
                        .next()
                        .ok_or_else(|| Error::option(name, "needs a value"))?;
                    a.values
                        .entry(name.to_string())
                        .or_default()
                        .push(v.clone());
                }
            } else {
                a.positional.push(arg.clone());
            }
        }
        Ok(a)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    fn req(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::option(name, "is required"))
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.get(name) {
            None => Ok(default),
            Some(s) => s
                .parse()
                .map_err(|_| Error::option(name, format!("`{s}` is not a valid number"))),
        }
    }

    fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }

    /// Rejects flags the command does not know (a typo should not be ignored).
    fn only(&self, allowed: &[&str]) -> Result<()> {
        for k in self.values.keys().chain(self.switches.iter()) {
            if !allowed.contains(&k.as_str()) {
                return Err(Error::option(k, "unknown option for this command"));
            }
        }
        Ok(())
    }
}

fn read_model(a: &Args) -> Result<Vec<u8>> {
    let path = models::resolve(a.req("model")?)?;
    std::fs::read(&path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}

fn load_engine(a: &Args) -> Result<Engine> {
    let file = read_model(a)?;
    let ctx = a.num("ctx", 2048usize)?;
    let backend = match a.get("backend").unwrap_or("auto") {
        "auto" => BackendChoice::Auto,
        "gpu" => BackendChoice::Gpu,
        "cpu" => BackendChoice::Cpu,
        other => {
            return Err(Error::option(
                "backend",
                format!("`{other}` is not auto, gpu or cpu"),
            ))
        }
    };
    pollster::block_on(Engine::load(
        &file,
        &LoadOptions {
            ctx,
            backend,
            ..Default::default()
        },
    ))
}

fn json(v: serde_json::Value) {
    println!("{v}");
}

fn generate(a: &Args) -> Result<()> {
    a.only(&[
        "model",
        "prompt",
        "max-tokens",
        "chat",
        "system",
        "temperature",
        "top-k",
        "top-p",
        "min-p",
        "repeat-penalty",
        "seed",
        "stop",
        "ctx",
        "backend",
        "json",
    ])?;
    let prompt = a.req("prompt")?;
    let sampler = SamplerParams {
        temperature: a.num("temperature", 0.0)?,
        top_k: a.num("top-k", 0)?,
        top_p: a.num("top-p", 1.0)?,
        min_p: a.num("min-p", 0.0)?,
        repetition_penalty: a.num("repeat-penalty", 1.0)?,
        seed: a.num("seed", 0)?,
        ..Default::default()
    };
    sampler.validate()?;
    let opts = GenerateOptions {
        max_tokens: a.num("max-tokens", 128)?,
        sampler,
        stop: a.values.get("stop").cloned().unwrap_or_default(),
    };
    let mut engine = load_engine(a)?;
    let text = if a.switch("chat") {
        let mut msgs = Vec::new();
        if let Some(sys) = a.get("system") {
            msgs.push(ChatMessage::new("system", sys));
        }
        msgs.push(ChatMessage::new("user", prompt));
        engine.render_chat(&msgs)?
    } else {
        prompt.to_string()
    };
    let ids = engine.tokenize(&text)?;
    let as_json = a.switch("json");
    let mut stdout = std::io::stdout();
    let g = pollster::block_on(engine.generate(&ids, &opts, |t| {
        if !as_json {
            // A closed pipe (`| head`) ends generation quietly.
            if stdout
                .write_all(t.as_bytes())
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }))?;
    if as_json {
        json(serde_json::json!({
            "prompt_tokens": g.prompt_tokens,
            "generated": g.tokens,
            "text": g.text,
            "finish_reason": g.finish_reason,
            "ttft_ms": g.stats.ttft_ms,
            "prefill_tok_s": g.stats.prefill_tok_s,
            "decode_tok_s": g.stats.decode_tok_s,
        }));
    } else {
        println!();
    }
    Ok(())
}

fn score(a: &Args) -> Result<()> {
    a.only(&["model", "text-file", "max-tokens", "ctx", "backend", "json"])?;
    let path = a.req("text-file")?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io(format!("{path}: {e}")))?;
    let max = a.num("max-tokens", 512usize)?;
    let mut engine = load_engine(a)?;
    let mut ids = engine.tokenize(&text)?;
    ids.truncate(max);
    if ids.len() < 2 {
        return Err(Error::option("text-file", "needs at least two tokens"));
    }
    let s = pollster::block_on(engine.score(&ids))?;
    let nll = -s.logprobs.iter().sum::<f64>() / s.logprobs.len() as f64;
    let ppl = nll.exp();
    if a.switch("json") {
        json(
            serde_json::json!({ "tokens": ids, "logprobs": s.logprobs, "argmax": s.argmax, "ppl": ppl }),
        );
    } else {
        println!("{} tokens, perplexity {ppl:.4}", ids.len());
    }
    Ok(())
}

fn tokenize(a: &Args) -> Result<()> {
    a.only(&["model", "text", "json"])?;
    let file = read_model(a)?;
    let g = gguf::parse(&file)?;
    let tok = Tokenizer::from_gguf(&g)?;
    let ids = tok.encode(a.req("text")?, true, true)?;
    if a.switch("json") {
        json(serde_json::json!({ "tokens": ids }));
    } else {
        println!("{ids:?}");
    }
    Ok(())
}

fn info(a: &Args) -> Result<()> {
    a.only(&["model", "ctx"])?;
    let engine = load_engine(a)?;
    println!(
        "{}",
        serde_json::to_string_pretty(engine.info()).map_err(|e| Error::Io(e.to_string()))?
    );
    Ok(())
}

fn run(argv: &[String]) -> Result<()> {
    let Some((cmd, rest)) = argv.split_first() else {
        return Err(Error::option("command", "missing"));
    };
    let a = Args::parse(rest)?;
    match cmd.as_str() {
        "generate" => generate(&a),
        "score" => score(&a),
        "tokenize" => tokenize(&a),
        "info" => info(&a),
        "fetch" => {
            let name = a
                .positional
                .first()
                .ok_or_else(|| Error::option("NAME", "is required"))?;
            println!("{}", models::resolve(name)?.display());
            Ok(())
        }
        other => Err(Error::option(
            "command",
            format!("unknown command `{other}`"),
        )),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() || argv[0] == "--help" || argv[0] == "-h" {
        eprintln!("{USAGE}");
        return if argv.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    match run(&argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-llm: error [{}]: {e}", e.code());
            if matches!(e, Error::InvalidOption { .. }) {
                eprintln!("run `edge-llm --help` for usage");
            }
            ExitCode::FAILURE
        }
    }
}

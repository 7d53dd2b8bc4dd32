//! Chat templates: the Jinja template a GGUF carries in
//! `tokenizer.chat_template`, rendered in a sandbox.
//!
//! The template is code from whoever made the file, so it runs in minijinja
//! with limits: a fuel budget (instructions executed), a recursion limit,
//! a cap on the bytes written, no loader (`include`/`extends`/`import` of
//! anything but the template itself fail), and no access to anything but
//! the values passed in. minijinja also caps string repetition
//! (`"x" * n`, 100 MB) and `range()` (100k items). What remains possible is
//! building a large string in few steps (doubling a string in a loop); fuel
//! keeps the number of steps small, not the size of each value.
//!
//! Hugging Face renders these templates with Jinja2's `trim_blocks` and
//! `lstrip_blocks` on and offers `raise_exception`; templates also call
//! Python string methods (`.strip()`, `.startswith()`), which
//! minijinja-contrib's `pycompat` provides, and `strftime_now`.

use std::io;

use minijinja::{Environment, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `"system"`, `"user"`, `"assistant"`, ...
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Sandbox limits for one render.
#[derive(Clone, Copy, Debug)]
pub struct TemplateLimits {
    /// minijinja instructions one render may execute.
    pub fuel: u64,
    /// Nesting depth (loops, calls, macros) before the render fails.
    pub recursion: usize,
    /// Most bytes a render may write.
    pub max_output: usize,
}

impl TemplateLimits {
    /// Generous for real chat templates (a few dozen instructions per
    /// message), small enough that a hostile one fails within milliseconds.
    /// The output cap grows with the conversation: a template adds some
    /// text around each message, never more than the messages themselves.
    pub fn for_messages(messages: &[ChatMessage]) -> Self {
        let content: usize = messages
            .iter()
            .map(|m| m.content.len() + m.role.len())
            .sum();
        Self {
            fuel: 1_000_000,
            recursion: 100,
            max_output: (1 << 20) + content.saturating_mul(2),
        }
    }
}

/// Renders `template` for `messages` with the default limits.
/// `bos`/`eos` are the texts of the model's BOS/EOS tokens (templates use
/// `bos_token` and `eos_token`).
pub fn render_chat(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos: &str,
    eos: &str,
) -> Result<String> {
    let limits = TemplateLimits::for_messages(messages);
    render_chat_with_limits(template, messages, add_generation_prompt, bos, eos, &limits)
}

/// [`render_chat`] with explicit limits.
pub fn render_chat_with_limits(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos: &str,
    eos: &str,
    limits: &TemplateLimits,
) -> Result<String> {
    let mut env = Environment::new();
    env.set_fuel(Some(limits.fuel));
    env.set_recursion_limit(limits.recursion);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    let tmpl = env
        .template_from_str(template)
        .map_err(|e| Error::Template(format!("cannot parse: {e:#}")))?;
    let ctx = minijinja::context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos,
        eos_token => eos,
    };
    let mut out = CappedWriter {
        buf: Vec::new(),
        cap: limits.max_output,
        overflowed: false,
    };
    let result = tmpl.render_captured_to(ctx, &mut out).map(|_| ());
    if out.overflowed {
        return Err(Error::Template(format!(
            "output exceeds {} bytes",
            limits.max_output
        )));
    }
    result.map_err(|e| match e.kind() {
        ErrorKind::OutOfFuel => Error::Template(format!(
            "ran out of fuel ({} instructions): the template loops too long",
            limits.fuel
        )),
        _ => Error::Template(format!("{e:#}")),
    })?;
    String::from_utf8(out.buf).map_err(|_| Error::Template("output is not UTF-8".into()))
}

/// A ChatML prompt, for GGUFs without a template:
/// `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then
/// `<|im_start|>assistant\n` when a reply is wanted.
pub fn chatml_fallback(messages: &[ChatMessage], add_generation_prompt: bool) -> String {
    let mut s = String::new();
    for m in messages {
        s.push_str("<|im_start|>");
        s.push_str(&m.role);
        s.push('\n');
        s.push_str(&m.content);
        s.push_str("<|im_end|>\n");
    }
    if add_generation_prompt {
        s.push_str("<|im_start|>assistant\n");
    }
    s
}

/// Hugging Face's `raise_exception(msg)`: the template rejects its input.
fn raise_exception(msg: String) -> std::result::Result<String, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("template raised an exception: {msg}"),
    ))
}

/// Hugging Face's `strftime_now(format)`: the current UTC date and time.
/// Supports the directives templates use: %Y %y %m %d %e %B %b %A %a %H %M
/// %S %j %%; others are written as is.
fn strftime_now(fmt: String) -> String {
    format_time(&fmt, now_unix_seconds())
}

#[cfg(not(target_arch = "wasm32"))]
fn now_unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(target_arch = "wasm32")]
fn now_unix_seconds() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

fn format_time(fmt: &str, t: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_starts = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = month_starts[(m - 1) as usize] + d + i64::from(leap && m > 2);
    let month = MONTHS[(m - 1) as usize];
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&y.to_string()),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('e') => out.push_str(&format!("{d:>2}")),
            Some('B') => out.push_str(month),
            Some('b') => out.push_str(&month[..3]),
            Some('A') => out.push_str(weekday),
            Some('a') => out.push_str(&weekday[..3]),
            Some('H') => out.push_str(&format!("{:02}", secs / 3600)),
            Some('M') => out.push_str(&format!("{:02}", secs / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", secs % 60)),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Collects output and fails the render once `cap` bytes would be passed.
struct CappedWriter {
    buf: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl io::Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len().saturating_add(data.len()) > self.cap {
            self.overflowed = true;
            return Err(io::Error::other("chat template output cap reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn user(s: &str) -> Vec<ChatMessage> {
        vec![ChatMessage::new("user", s)]
    }

    #[test]
    fn smollm2_template_one_user_message() {
        let out = render_chat(SMOLLM2, &user("WHAT"), true, "<|im_start|>", "<|im_end|>").unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWHAT<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn smollm2_template_with_system_matches_chatml_fallback() {
        let msgs = vec![
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "hi"),
            ChatMessage::new("assistant", "hello"),
            ChatMessage::new("user", "bye"),
        ];
        let out = render_chat(SMOLLM2, &msgs, true, "", "").unwrap();
        assert_eq!(out, chatml_fallback(&msgs, true));
        let out = render_chat(SMOLLM2, &msgs, false, "", "").unwrap();
        assert_eq!(out, chatml_fallback(&msgs, false));
    }

    #[test]
    fn infinite_loop_runs_out_of_fuel() {
        let t = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        let e = render_chat(t, &user("x"), true, "", "").unwrap_err();
        assert!(
            matches!(&e, Error::Template(m) if m.contains("fuel")),
            "{e}"
        );
        // Recursion without end fails too (recursion limit or fuel).
        let t = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
        let e = render_chat(t, &user("x"), true, "", "").unwrap_err();
        assert!(matches!(e, Error::Template(_)), "{e}");
    }

    #[test]
    fn huge_output_is_stopped() {
        let t = "{{ 'x' * 50000000 }}";
        let e = render_chat(t, &user("x"), true, "", "").unwrap_err();
        assert!(
            matches!(&e, Error::Template(m) if m.contains("output exceeds")),
            "{e}"
        );
        let t = "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}";
        let e = render_chat(t, &user("x"), true, "", "").unwrap_err();
        assert!(
            matches!(&e, Error::Template(m) if m.contains("output exceeds")),
            "{e}"
        );
    }

    #[test]
    fn raise_exception_is_a_template_error() {
        let t = "{% if messages[0]['role'] != 'system' %}{{ raise_exception('need a system message') }}{% endif %}";
        let e = render_chat(t, &user("x"), true, "", "").unwrap_err();
        assert!(
            matches!(&e, Error::Template(m) if m.contains("need a system message")),
            "{e}"
        );
    }

    #[test]
    fn no_includes_and_parse_errors_are_template_errors() {
        let e = render_chat("{% include 'etc/passwd' %}", &user("x"), true, "", "").unwrap_err();
        assert!(matches!(e, Error::Template(_)), "{e}");
        let e = render_chat("{% for %}", &user("x"), true, "", "").unwrap_err();
        assert!(matches!(e, Error::Template(_)), "{e}");
    }

    #[test]
    fn python_string_methods_and_block_trimming() {
        let t = "{% for m in messages %}\n  {{ m.content.strip().upper() }}{% if m.content.startswith(' a') %}!{% endif %}\n{% endfor %}{{ bos_token }}";
        let out = render_chat(t, &user(" abc "), false, "<s>", "</s>").unwrap();
        // trim_blocks eats the newline after `{% endif %}`, as Jinja2 does.
        assert_eq!(out, "  ABC!<s>");
    }

    #[test]
    fn strftime_formats_dates() {
        // 2024-02-29 13:05:09 UTC, a Thursday.
        let t = 1_709_211_909;
        assert_eq!(
            format_time("%d %b %Y %H:%M:%S %A %j %y %B %%", t),
            "29 Feb 2024 13:05:09 Thursday 060 24 February %"
        );
        assert_eq!(format_time("%Y-%m-%d %a", 0), "1970-01-01 Thu");
    }
}

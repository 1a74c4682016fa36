//! `snapstack state status|save|load|reset`: drive a running server's state endpoints
//! (`/_localstack/state...`) from the command line, as LocalStack's `localstack state` does for
//! its own. `load --service S --generation N` loads a chosen saved generation back, so that a
//! reset or a bad run can be undone. Exit codes: 0 every service succeeded, 1 the server
//! answered a non-2xx status (its lines are printed), 2 no server answered or the arguments are
//! wrong.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct StateArgs {
    /// status: each service's saved state (GET /_localstack/state). save: write a generation
    /// now. load: load the newest generation back (with --generation, that one; needs
    /// --service). reset: empty the state in memory (saved generations stay on disk).
    #[arg(value_parser = ["status", "save", "load", "reset"])]
    action: String,
    /// One service (default: every service).
    #[arg(long)]
    service: Option<String>,
    /// load: the generation to load (`snapstack snapshot list` or `state status` name them).
    #[arg(long)]
    generation: Option<u64>,
    /// The server [env: AWS_ENDPOINT_URL] (default http://127.0.0.1:4566).
    #[arg(long)]
    endpoint: Option<String>,
}

/// The longest a save or load may take before the command gives up waiting (the server
/// finishes it either way).
const WAIT: Duration = Duration::from_secs(600);
/// The largest answer read.
const MAX_ANSWER: u64 = 16 << 20;

pub fn run(args: StateArgs) -> ExitCode {
    let endpoint = args
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:4566".into());
    let path = match path(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("snapstack state: {e}");
            return ExitCode::from(2);
        }
    };
    let method = if args.action == "status" {
        "GET"
    } else {
        "POST"
    };
    let (status, body) = match request(&endpoint, method, &path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "snapstack state: no answer from {endpoint}: {e} (start one with `snapstack serve`, or pass --endpoint)"
            );
            return ExitCode::from(2);
        }
    };
    if args.action == "status" {
        println!("{}", body.trim_end());
    } else {
        print_lines(&body);
    }
    if (200..300).contains(&status) {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "snapstack state {}: the server answered {status}",
            args.action
        );
        ExitCode::from(1)
    }
}

/// The endpoint path of the action.
fn path(args: &StateArgs) -> Result<String, String> {
    if let Some(s) = &args.service
        && !snapstack::server::state_api::valid_segment(s)
    {
        return Err(format!(
            "--service {s:?} is not a service name (a-z, 0-9 and '-')"
        ));
    }
    match (args.action.as_str(), &args.service, args.generation) {
        ("load", Some(s), Some(g)) => Ok(format!("/_localstack/state/{s}/load?generation={g}")),
        ("load", None, Some(_)) => Err(
            "--generation needs --service: generations are numbered per service (`snapstack snapshot list`)"
                .into(),
        ),
        (_, _, Some(_)) => Err("--generation goes with `load` only".into()),
        ("status", Some(_), None) => {
            Err("`status` shows every service; leave out --service".into())
        }
        ("status", None, None) => Ok("/_localstack/state".into()),
        (action, None, None) => Ok(format!("/_localstack/state/{action}")),
        (action, Some(s), None) => Ok(format!("/_localstack/state/{s}/{action}")),
    }
}

/// The server's JSON lines, one service a line: `ssm: ok` or `ssm: error: <message>`.
fn print_lines(body: &str) {
    for l in body.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            println!("{l}");
            continue;
        };
        match (v["service"].as_str(), v["status"].as_str()) {
            (Some(s), Some("ok")) => println!("{s}: ok"),
            (Some(s), Some(st)) => println!(
                "{s}: {st}: {}",
                v["message"].as_str().unwrap_or("(no message)")
            ),
            // An error that is not a service's line (a 400 or 404 of the endpoint).
            _ => println!(
                "{}",
                v["error"]["message"]
                    .as_str()
                    .or(v["message"].as_str())
                    .map_or_else(|| l.to_string(), str::to_string)
            ),
        }
    }
}

/// One HTTP/1.1 request to an `http://host[:port]` endpoint; the status and the body.
fn request(endpoint: &str, method: &str, path: &str) -> Result<(u16, String), String> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("{endpoint:?}: only http:// endpoints are supported"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let addr = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok() && !authority.ends_with(']'))
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut s =
        TcpStream::connect_timeout(&sock, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(WAIT)).map_err(|e| e.to_string())?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.take(MAX_ANSWER)
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    parse_response(&raw)
}

/// The status and (de-chunked) body of an HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the answer is not HTTP")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("the answer has no status")?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if n == 0 || n > rest.len() || !rest.is_char_boundary(n) {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(action: &str, service: Option<&str>, generation: Option<u64>) -> StateArgs {
        StateArgs {
            action: action.into(),
            service: service.map(str::to_string),
            generation,
            endpoint: None,
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            path(&args("load", Some("ssm"), Some(3))).unwrap(),
            "/_localstack/state/ssm/load?generation=3"
        );
        assert_eq!(
            path(&args("save", None, None)).unwrap(),
            "/_localstack/state/save"
        );
        assert_eq!(
            path(&args("reset", Some("s3"), None)).unwrap(),
            "/_localstack/state/s3/reset"
        );
        assert_eq!(
            path(&args("status", None, None)).unwrap(),
            "/_localstack/state"
        );
        assert!(path(&args("load", None, Some(3))).is_err());
        assert!(path(&args("save", Some("ssm"), Some(3))).is_err());
        assert!(path(&args("load", Some("../x"), None)).is_err());
        assert!(path(&args("status", Some("ssm"), None)).is_err());
    }

    #[test]
    fn responses() {
        let (s, b) = parse_response(
            b"HTTP/1.1 500 Internal\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\n ok\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((s, b.as_str()), (500, "hello ok"));
        let (s, b) = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((s, b.as_str()), (200, "{}"));
        assert!(parse_response(b"garbage").is_err());
        // A lying chunk size ends the body instead of panicking.
        let (_, b) =
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab")
                .unwrap();
        assert_eq!(b, "");
    }
}

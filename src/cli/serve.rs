//! `w2v serve`: the JSON API and page of [`w2v::serve`] on one address.

use std::net::SocketAddr;

use clap::Args;

use w2v::progress::Progress;
use w2v::query::Model;
use w2v::serve::{check_addr, App, Limits, Server, DEFAULT_RESTRICT};

use super::common::ModelArg;
use super::{out, Fail};

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Address to listen on, HOST:PORT (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    pub addr: SocketAddr,
    /// Allow a non-loopback --addr (the API then answers anyone who can reach it).
    #[arg(long)]
    pub public: bool,
    /// Rows a neighbours/analogy request searches when it names no `restrict`
    /// (the most frequent words); 0 searches the whole vocabulary.
    #[arg(long, default_value_t = DEFAULT_RESTRICT)]
    pub restrict: usize,
    /// Most connections open at once (more wait to be accepted until one closes; at most 65536).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,
    /// Close a connection after this many seconds with nothing read or written
    /// (at most a year).
    #[arg(long, default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=w2v::serve::MAX_IDLE.as_secs()))]
    pub idle_timeout: u64,
    /// Seconds a request may take to arrive and be answered: a slower head
    /// closes the connection, a slower body or answer gets 408.
    #[arg(long, default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,
}

/// `IP:PORT`, or `HOST:PORT` resolved (`localhost:8080`), IPv4 first.
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    let hint = "give HOST:PORT, e.g. 127.0.0.1:8080 or localhost:8080";
    let all: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("{e}; {hint}"))?
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| format!("{s} resolves to no address; {hint}"))
}

pub fn run(a: ServeArgs, p: &Progress) -> std::result::Result<(), Fail> {
    check_addr(a.addr, a.public)?;
    if !a.addr.ip().is_loopback() {
        p.warn(&format!(
            "serving on non-loopback {}: anyone who can reach it can query the model",
            a.addr
        ));
    }
    let model = Model::open(&a.model.model)?;
    if model.model_dir().is_legacy() {
        p.warn(&format!(
            "{}: legacy model (no recorded normalization); queries use the default",
            a.model.model.display()
        ));
    }
    let limits = Limits {
        default_restrict: (a.restrict > 0).then_some(a.restrict),
        max_connections: a.max_connections as usize,
        idle_timeout: std::time::Duration::from_secs(a.idle_timeout),
        request_timeout: std::time::Duration::from_secs(a.request_timeout),
        ..Limits::default()
    };
    let server = Server::bind(App::new(model, limits), a.addr)?;
    let addr = server.local_addr()?;
    // The one line a caller (or a test) waits for.
    out(&format!("w2v serve: listening on http://{addr}/"))?;
    server.run()?;
    Ok(())
}

//! `w2v serve`: a JSON API and one embedded page over a model directory.
//!
//! In: a [`Model`] (opened once, matrices memory-mapped, shared by every
//! request through an [`Arc`]) and `model/train.jsonl` when training logged
//! one. Out: HTTP on one address, loopback unless the caller allowed
//! otherwise ([`check_addr`]). axum on tokio does the HTTP; every model
//! query runs on tokio's blocking pool (a scan of a 2.6M-word matrix takes
//! milliseconds, too long for an async worker), where a panic becomes a 500
//! rather than a dead server.
//!
//! Routes (each takes its parameters from the query string on GET, or from a
//! JSON object on POST; lists are JSON arrays or comma-separated strings):
//! - `GET /`: the page ([`PAGE`], compiled into the binary; no CDN);
//! - `/api/neighbors`: `word` or `positive`/`negative`, `k`, `restrict`;
//! - `/api/similarity`: `a`, `b`;
//! - `/api/analogy`: `a`, `b`, `c`, `k`, `mul`, `restrict`;
//! - `/api/words`: `prefix`, `limit` (autocomplete: normalized, most
//!   frequent first, through [`Model::complete`]);
//! - `/api/map`: `word` and `k` (the word and its neighbours) or `words`; a
//!   2D projection onto the top two principal components ([`pca2`]);
//! - `/api/manifest`: the model manifest;
//! - `/api/curves`: the records of `model/train.jsonl` (404 without one).
//!
//! Every error is a 4xx or 5xx with a JSON body `{"error": "..."}` (plus
//! `suggestions` for an unknown word); echoed words are cut to
//! [`crate::error::SHOWN_CHARS`] characters. [`Limits`] bounds `k`, list
//! lengths, map size and request bodies, and the connections: at most
//! `max_connections` open at once (more wait in the listen backlog until
//! one closes, so clients cannot use up the process's files), each closed after
//! `idle_timeout` without a byte read or written ([`Capped`], [`Idle`]).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{io_err, Error, Result};
use crate::query::{Hit, Model};

/// The page, compiled into the binary.
pub const PAGE: &str = include_str!("serve_page.html");

/// Bounds on what one request may ask for.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest `k` for neighbours and analogies.
    pub max_k: usize,
    /// Most words a map may hold (the word and its neighbours, or `words`).
    pub max_map: usize,
    /// Most words in a `positive`, `negative` or `words` list.
    pub max_list: usize,
    /// Most completions `/api/words` returns.
    pub max_complete: usize,
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// Rows searched when a request gives no `restrict` (`None`: all).
    pub default_restrict: Option<usize>,
    /// Largest `train.jsonl` served, in bytes.
    pub max_log_bytes: u64,
    /// Most connections open at once.
    pub max_connections: usize,
    /// A connection with no byte read or written for this long is closed.
    pub idle_timeout: Duration,
    /// A request's head must arrive within this long (else the connection
    /// is closed), and its body must arrive and be answered within it
    /// (else 408): a client trickling bytes cannot hold a connection.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_k: 1000,
            max_map: 500,
            max_list: 20,
            max_complete: 50,
            max_body: 16 * 1024,
            default_restrict: Some(DEFAULT_RESTRICT),
            max_log_bytes: 64 << 20,
            max_connections: 128,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// `request_timeout`, clamped to the clock's [`MAX_IDLE`].
    fn request_within(&self) -> Duration {
        self.request_timeout.min(MAX_IDLE)
    }
}

/// The rows a request searches when it names no `restrict`: the most
/// frequent 100,000 words (see BENCHMARKS.md, "serve").
pub const DEFAULT_RESTRICT: usize = 100_000;

/// Refuses a non-loopback address unless `public` is set.
pub fn check_addr(addr: SocketAddr, public: bool) -> Result<()> {
    if addr.ip().is_loopback() || public {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "--addr {addr} is not a loopback address; pass --public to serve the model to the network"
        )))
    }
}

/// What every request shares.
pub struct App {
    model: Arc<Model>,
    limits: Limits,
    log: PathBuf,
    batcher: Batcher,
}

impl App {
    /// Wraps an opened model; builds its word index (a sort of the
    /// vocabulary: about a second for 2.6M words) and starts the thread
    /// that answers neighbour queries in batches.
    pub fn new(model: Model, limits: Limits) -> App {
        model.index_words();
        let log = crate::train::log::log_of(model.model_dir().path());
        let model = Arc::new(model);
        let batcher = Batcher::spawn(Arc::clone(&model));
        App {
            model,
            limits,
            log,
            batcher,
        }
    }
}

/// Most neighbour queries answered by one scan.
pub const MAX_BATCH: usize = 64;

/// One neighbour query waiting for a scan.
struct Job {
    query: Vec<f32>,
    exclude: Vec<usize>,
    k: usize,
    rows: usize,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Hit>>>,
}

/// Answers neighbour queries in batches: a neighbour query is a scan of
/// the (restricted) matrix, bound by memory reads, so the queries that
/// arrive while one scan runs are answered together by the next
/// ([`Model::nearest_many`]: each row is read once for all of them). A
/// lone query is answered at once, as before.
struct Batcher {
    tx: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl Batcher {
    fn spawn(model: Arc<Model>) -> Batcher {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        // Ends when the app (the only sender) is dropped.
        std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                Batcher::answer(&model, jobs);
            }
        });
        Batcher {
            tx: std::sync::Mutex::new(tx),
        }
    }

    /// One scan per distinct `rows` among `jobs`.
    fn answer(model: &Model, mut jobs: Vec<Job>) {
        jobs.sort_by_key(|j| j.rows);
        while !jobs.is_empty() {
            let rows = jobs[0].rows;
            let n = jobs.iter().take_while(|j| j.rows == rows).count();
            let group: Vec<Job> = jobs.drain(..n).collect();
            let k = group.iter().map(|j| j.k).max().unwrap_or(1);
            let queries: Vec<Vec<f32>> = group.iter().map(|j| j.query.clone()).collect();
            let exclude: Vec<Vec<usize>> = group.iter().map(|j| j.exclude.clone()).collect();
            match model.nearest_many(&queries, k, &exclude, Some(rows)) {
                Ok(hits) => {
                    for (j, mut h) in group.into_iter().zip(hits) {
                        h.truncate(j.k);
                        let _ = j.reply.send(Ok(h));
                    }
                }
                // The model is corrupt (a non-finite score): each query
                // gets the error on its own.
                Err(_) => {
                    for j in group {
                        let r = model
                            .nearest_many(&[j.query], j.k, &[j.exclude], Some(rows))
                            .map(|mut h| h.remove(0));
                        let _ = j.reply.send(r);
                    }
                }
            }
        }
    }

    /// Queues a query and waits for its answer.
    async fn nearest(
        &self,
        query: Vec<f32>,
        exclude: Vec<usize>,
        k: usize,
        rows: usize,
    ) -> std::result::Result<Vec<Hit>, ApiError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            query,
            exclude,
            k,
            rows,
            reply,
        };
        let sent = self
            .tx
            .lock()
            .map_err(|_| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the query queue failed")
            })?
            .send(job);
        if sent.is_err() {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the query thread has stopped",
            ));
        }
        match rx.await {
            Ok(r) => Ok(r?),
            Err(_) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the query thread dropped the query",
            )),
        }
    }
}

/// A listening server, not yet serving.
pub struct Server {
    listener: std::net::TcpListener,
    app: Arc<App>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free one).
    pub fn bind(app: App, addr: SocketAddr) -> Result<Server> {
        let where_ = PathBuf::from(addr.to_string());
        let listener = std::net::TcpListener::bind(addr).map_err(io_err(&where_, "listen on"))?;
        listener
            .set_nonblocking(true)
            .map_err(io_err(&where_, "configure"))?;
        Ok(Server {
            listener,
            app: Arc::new(app),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(io_err("<socket>", "read the address of"))
    }

    /// Serves until the process ends.
    pub fn run(self) -> Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(io_err("<runtime>", "start the async runtime for"))?;
        let addr = PathBuf::from(self.local_addr()?.to_string());
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(self.listener)
                .map_err(io_err(&addr, "listen on"))?;
            let mut listener = Capped {
                inner: listener,
                open: Arc::new(Semaphore::new(self.app.limits.max_connections)),
                idle: self.app.limits.idle_timeout,
            };
            let head = self.app.limits.request_within();
            let app = router(self.app);
            // axum::serve's connections have no timer, so hyper's header
            // read timeout is off there; each connection is served here
            // with it on.
            loop {
                let io = listener.accept().await;
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    // A failed connection (a reset, a timeout) concerns only it.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(head)
                        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
                        .await;
                });
            }
        })
    }
}

/// A listener that holds at most `open`'s permits of connections at once:
/// it accepts another only when one has closed (until then a new one waits
/// in the kernel's backlog). Each connection it hands out is an [`Idle`]
/// holding a permit.
struct Capped {
    inner: tokio::net::TcpListener,
    open: Arc<Semaphore>,
    idle: Duration,
}

impl Capped {
    /// The next connection within the cap (axum's accept, which rides out
    /// accept errors such as running out of descriptors).
    async fn accept(&mut self) -> Idle<tokio::net::TcpStream> {
        // A burst over the cap used to be closed at once, which a client
        // sees as a reset; now it waits, and the idle and request clocks
        // bound how long.
        let permit = Arc::clone(&self.open)
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        let (io, _) = axum::serve::Listener::accept(&mut self.inner).await;
        Idle::new(io, self.idle, permit)
    }
}

/// A connection that fails with `TimedOut` (so the server closes it) once
/// `idle` passes with nothing read or written; it frees its permit when
/// dropped.
struct Idle<S> {
    io: S,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _permit: OwnedSemaphorePermit,
}

/// The longest idle clock: a year stands for "never" (a longer one would
/// overflow the clock's `Instant` arithmetic).
pub const MAX_IDLE: Duration = Duration::from_secs(365 * 86_400);

impl<S> Idle<S> {
    fn new(io: S, idle: Duration, permit: OwnedSemaphorePermit) -> Self {
        let idle = idle.min(MAX_IDLE);
        Idle {
            io,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            _permit: permit,
        }
    }

    /// Restarts the idle clock after progress.
    fn active(&mut self) {
        let at = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(at);
    }

    /// `Pending` from the connection: an error once the idle clock ran out.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connection idle too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        match Pin::new(&mut me.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                me.active();
                Poll::Ready(r)
            }
            Poll::Pending => me.waiting(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        match Pin::new(&mut me.io).poll_write(cx, buf) {
            Poll::Ready(r) => {
                me.active();
                Poll::Ready(r)
            }
            Poll::Pending => me.waiting(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The routes, over a shared [`App`].
pub fn router(app: Arc<App>) -> Router {
    let max_body = app.limits.max_body;
    let answer_within = app.limits.request_within();
    Router::new()
        .route("/", get(page))
        .route("/api/neighbors", get(neighbors).post(neighbors))
        .route("/api/similarity", get(similarity).post(similarity))
        .route("/api/analogy", get(analogy).post(analogy))
        .route("/api/words", get(words).post(words))
        .route("/api/map", get(map).post(map))
        .route("/api/manifest", get(manifest))
        .route("/api/curves", get(curves))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: axum::middleware::Next| async move {
                match tokio::time::timeout(answer_within, next.run(req)).await {
                    Ok(r) => r,
                    Err(_) => ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "the request was not received and answered in time",
                    )
                    .into_response(),
                }
            },
        ))
        .with_state(app)
}

/// An error response: a status and `{"error": ..., "suggestions": [...]}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    suggestions: Vec<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            suggestions: Vec::new(),
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match &e {
            Error::UnknownWord { .. } => StatusCode::NOT_FOUND,
            Error::NotOneWord { .. } | Error::InvalidConfig(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let suggestions = match &e {
            Error::UnknownWord { suggestions, .. } => suggestions.clone(),
            _ => Vec::new(),
        };
        ApiError {
            status,
            message: e.to_string(),
            suggestions,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if !self.suggestions.is_empty() {
            body["suggestions"] = json!(self.suggestions);
        }
        (self.status, Json(body)).into_response()
    }
}

type ApiResult = std::result::Result<Json<Value>, ApiError>;

/// Parameters from the query string (GET) or a JSON body (POST); a
/// malformed one is a 400 (a body past [`Limits::max_body`] a 413) with a
/// JSON error.
struct Params<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequest<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> std::result::Result<Self, ApiError> {
        if req.method() == Method::POST {
            match Json::<T>::from_request(req, state).await {
                Ok(Json(t)) => Ok(Params(t)),
                Err(e) => Err(ApiError::new(
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        e.status()
                    } else {
                        StatusCode::BAD_REQUEST
                    },
                    cut(&e.body_text()),
                )),
            }
        } else {
            Query::<T>::try_from_uri(req.uri())
                .map(|Query(t)| Params(t))
                .map_err(|e| ApiError::bad(cut(&e.body_text())))
        }
    }
}

/// A parser's message, first line, cut to 200 characters (it may echo
/// input).
fn cut(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// A word list: a JSON array, or one comma-separated string.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum WordList {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl WordList {
    fn into_vec(self, name: &str, max: usize) -> std::result::Result<Vec<String>, ApiError> {
        let v: Vec<String> = match self {
            WordList::None => Vec::new(),
            WordList::One(s) => s.split(',').map(str::to_owned).collect(),
            WordList::Many(v) => v,
        };
        let v: Vec<String> = v
            .into_iter()
            .map(|w| w.trim().to_owned())
            .filter(|w| !w.is_empty())
            .collect();
        if v.len() > max {
            return Err(ApiError::bad(format!(
                "{name} lists {} words; at most {max} are allowed",
                v.len()
            )));
        }
        Ok(v)
    }
}

/// Runs `f` on the blocking pool with the app.
async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> std::result::Result<T, ApiError> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the query failed: {e}"),
            )
        })?
}

fn check_k(k: usize, max: usize) -> std::result::Result<usize, ApiError> {
    if k == 0 || k > max {
        return Err(ApiError::bad(format!("k = {k} is out of range 1..={max}")));
    }
    Ok(k)
}

fn restrict(app: &App, r: Option<usize>) -> std::result::Result<usize, ApiError> {
    match r.or(app.limits.default_restrict) {
        Some(0) => Err(ApiError::bad("restrict must be at least 1")),
        Some(n) => Ok(n.min(app.model.len())),
        None => Ok(app.model.len()),
    }
}

/// A required string parameter, present and non-blank.
fn required(name: &str, v: Option<String>) -> std::result::Result<String, ApiError> {
    v.filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad(format!("missing parameter `{name}`")))
}

/// The words of ids as the model stores them.
fn normalized(m: &Model, words: &[String]) -> std::result::Result<Vec<String>, ApiError> {
    words
        .iter()
        .map(|w| Ok(m.word(m.id(w)?).to_string()))
        .collect()
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NeighborsQ {
    word: Option<String>,
    #[serde(default)]
    positive: WordList,
    #[serde(default)]
    negative: WordList,
    k: Option<usize>,
    restrict: Option<usize>,
}

async fn neighbors(State(app): State<Arc<App>>, Params(q): Params<NeighborsQ>) -> ApiResult {
    // The query vector on the blocking pool (an unknown word's suggestions
    // scan the vocabulary), the scan in the batcher's next batch.
    let (query, exclude, k, rows, body) = blocking(&app, move |app| {
        let max = app.limits.max_list;
        let mut positive = q.positive.into_vec("positive", max)?;
        let negative = q.negative.into_vec("negative", max)?;
        if let Some(w) = q.word.filter(|w| !w.trim().is_empty()) {
            positive.insert(0, w);
        }
        if positive.is_empty() && negative.is_empty() {
            return Err(ApiError::bad(
                "give `word`, or `positive` and/or `negative`",
            ));
        }
        if positive.len() > max {
            return Err(ApiError::bad(format!("at most {max} positive words")));
        }
        let k = check_k(q.k.unwrap_or(10), app.limits.max_k)?;
        let rows = restrict(app, q.restrict)?;
        let (query, exclude) = app.model.query_vector(&positive, &negative)?;
        let body = json!({
            "positive": normalized(&app.model, &positive)?,
            "negative": normalized(&app.model, &negative)?,
            "k": k,
            "restrict": rows,
        });
        Ok((query, exclude, k, rows, body))
    })
    .await?;
    let hits = app.batcher.nearest(query, exclude, k, rows).await?;
    let mut body = body;
    body["neighbors"] = json!(hits);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarityQ {
    a: Option<String>,
    b: Option<String>,
}

async fn similarity(State(app): State<Arc<App>>, Params(q): Params<SimilarityQ>) -> ApiResult {
    blocking(&app, move |app| {
        let (a, b) = (required("a", q.a)?, required("b", q.b)?);
        let s = app.model.similarity(&a, &b)?;
        let words = normalized(&app.model, &[a, b])?;
        Ok(Json(
            json!({ "a": words[0], "b": words[1], "similarity": s }),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalogyQ {
    a: Option<String>,
    b: Option<String>,
    c: Option<String>,
    k: Option<usize>,
    #[serde(default)]
    mul: bool,
    restrict: Option<usize>,
}

async fn analogy(State(app): State<Arc<App>>, Params(q): Params<AnalogyQ>) -> ApiResult {
    blocking(&app, move |app| {
        let (a, b, c) = (
            required("a", q.a)?,
            required("b", q.b)?,
            required("c", q.c)?,
        );
        let k = check_k(q.k.unwrap_or(10), app.limits.max_k)?;
        let rows = restrict(app, q.restrict)?;
        let hits = app.model.analogy(&a, &b, &c, k, q.mul, Some(rows))?;
        let words = normalized(&app.model, &[a, b, c])?;
        Ok(Json(json!({
            "a": words[0], "b": words[1], "c": words[2],
            "method": if q.mul { "3cosmul" } else { "3cosadd" },
            "k": k,
            "restrict": rows,
            "neighbors": hits,
        })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WordsQ {
    prefix: Option<String>,
    limit: Option<usize>,
}

async fn words(State(app): State<Arc<App>>, Params(q): Params<WordsQ>) -> ApiResult {
    blocking(&app, move |app| {
        let max = app.limits.max_complete;
        let limit = q.limit.unwrap_or(10);
        if limit == 0 || limit > max {
            return Err(ApiError::bad(format!(
                "limit = {limit} is out of range 1..={max}"
            )));
        }
        let raw = q.prefix.unwrap_or_default();
        // The prefix as prep would have written it; a prefix that
        // normalizes to several tokens completes its last one.
        let norm = app
            .model
            .normalizer()
            .normalize_query(&raw)
            .unwrap_or_default();
        let prefix = norm.rsplit(' ').next().unwrap_or("").to_string();
        let words: Vec<Value> = app
            .model
            .complete(&prefix, limit)
            .into_iter()
            .map(|(id, w)| json!({ "word": w, "id": id }))
            .collect();
        Ok(Json(json!({ "prefix": prefix, "words": words })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapQ {
    word: Option<String>,
    #[serde(default)]
    words: WordList,
    k: Option<usize>,
    restrict: Option<usize>,
}

#[derive(Serialize)]
struct Point {
    word: String,
    id: usize,
    x: f32,
    y: f32,
    /// Cosine to the centre word (1 for the centre; absent for `words`).
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
}

async fn map(State(app): State<Arc<App>>, Params(q): Params<MapQ>) -> ApiResult {
    blocking(&app, move |app| {
        let m = &app.model;
        let max = app.limits.max_map;
        let (center, hits): (Option<String>, Vec<Hit>) =
            match q.word.filter(|w| !w.trim().is_empty()) {
                Some(w) => {
                    let id = m.id(&w)?;
                    let k = check_k(q.k.unwrap_or(30), max - 1)?;
                    let rows = restrict(app, q.restrict)?;
                    let mut hits = vec![Hit {
                        word: m.word(id).to_string(),
                        id,
                        score: 1.0,
                    }];
                    hits.extend(m.most_similar(&[w], &[], k, Some(rows))?);
                    (Some(m.word(id).to_string()), hits)
                }
                None => {
                    let words = q.words.into_vec("words", max)?;
                    if words.len() < 2 {
                        return Err(ApiError::bad(
                            "give `word`, or `words` with at least 2 words",
                        ));
                    }
                    let mut hits: Vec<Hit> = Vec::with_capacity(words.len());
                    for w in &words {
                        let id = m.id(w)?;
                        if !hits.iter().any(|h| h.id == id) {
                            hits.push(Hit {
                                word: m.word(id).to_string(),
                                id,
                                score: f32::NAN,
                            });
                        }
                    }
                    (None, hits)
                }
            };
        let rows: Vec<Vec<f32>> = hits.iter().map(|h| m.unit(h.id)).collect::<Result<_>>()?;
        let (xy, explained) = pca2(&rows);
        let points: Vec<Point> = hits
            .into_iter()
            .zip(xy)
            .map(|(h, (x, y))| Point {
                word: h.word,
                id: h.id,
                x,
                y,
                score: h.score.is_finite().then_some(h.score),
            })
            .collect();
        Ok(Json(json!({
            "center": center,
            "points": points,
            "explained_variance": explained,
        })))
    })
    .await
}

/// Projects `rows` onto their top two principal components: the rows are
/// centred, and each component is found by power iteration on the `dim ×
/// dim` covariance, the second after deflating the first. Returns each
/// row's coordinates and the share of the total variance each component
/// explains. Two components of at most [`Limits::max_map`] rows is a few
/// milliseconds of arithmetic, so no linear-algebra dependency is pulled
/// in for it.
pub fn pca2(rows: &[Vec<f32>]) -> (Vec<(f32, f32)>, [f32; 2]) {
    let n = rows.len();
    let dim = rows.first().map_or(0, Vec::len);
    if n == 0 || dim == 0 {
        return (vec![(0.0, 0.0); n], [0.0, 0.0]);
    }
    let mut mean = vec![0f64; dim];
    for r in rows {
        for (m, &x) in mean.iter_mut().zip(r) {
            *m += f64::from(x) / n as f64;
        }
    }
    let centred: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .zip(&mean)
                .map(|(&x, m)| f64::from(x) - m)
                .collect()
        })
        .collect();
    let mut cov = vec![0f64; dim * dim];
    for r in &centred {
        for i in 0..dim {
            let ri = r[i];
            for j in 0..dim {
                cov[i * dim + j] += ri * r[j];
            }
        }
    }
    let total: f64 = (0..dim).map(|i| cov[i * dim + i]).sum();
    let mut comps: Vec<Vec<f64>> = Vec::new();
    let mut shares = [0f32; 2];
    for (c, share) in shares.iter_mut().enumerate() {
        // A fixed, non-degenerate start: deterministic output.
        let mut v: Vec<f64> = (0..dim).map(|i| 1.0 + ((i + c) % 7) as f64 * 0.1).collect();
        let mut lambda = 0.0;
        for _ in 0..300 {
            let mut w = vec![0f64; dim];
            for i in 0..dim {
                w[i] = (0..dim).map(|j| cov[i * dim + j] * v[j]).sum();
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-12 {
                break;
            }
            w.iter_mut().for_each(|x| *x /= norm);
            let delta: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = w;
            lambda = norm;
            if delta < 1e-9 {
                break;
            }
        }
        // Deflate: cov -= λ v vᵀ.
        for i in 0..dim {
            for j in 0..dim {
                cov[i * dim + j] -= lambda * v[i] * v[j];
            }
        }
        *share = if total > 0.0 {
            (lambda / total) as f32
        } else {
            0.0
        };
        // Sign convention: the largest coordinate is positive.
        let big = v
            .iter()
            .copied()
            .fold(0f64, |a, x| if x.abs() > a.abs() { x } else { a });
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        comps.push(v);
    }
    let proj = |r: &[f64], c: &[f64]| r.iter().zip(c).map(|(a, b)| a * b).sum::<f64>() as f32;
    let xy = centred
        .iter()
        .map(|r| (proj(r, &comps[0]), proj(r, &comps[1])))
        .collect();
    (xy, shares)
}

async fn manifest(State(app): State<Arc<App>>) -> ApiResult {
    let d = app.model.model_dir();
    let mut v = serde_json::to_value(d.manifest())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    v["legacy"] = json!(d.is_legacy());
    v["path"] = json!(d.path().display().to_string());
    Ok(Json(v))
}

async fn curves(State(app): State<Arc<App>>) -> ApiResult {
    blocking(&app, |app| {
        read_log(&app.log, app.limits.max_log_bytes).map(Json)
    })
    .await
}

/// The records of a `train.jsonl` as `{"records": [...], "skipped": n}`:
/// each line's JSON object passed through (readers ignore what they do
/// not know), malformed lines counted in `skipped`. A missing file is a 404.
fn read_log(path: &Path, max_bytes: u64) -> std::result::Result<Value, ApiError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "{}: no training log (the model was trained before `w2v train` logged curves, or imported)",
                    path.display()
                ),
            ))
        }
        Err(e) => return Err(io_err(path, "read")(e).into()),
    };
    if meta.len() > max_bytes {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "{}: {} bytes, past the {} served",
                path.display(),
                meta.len(),
                max_bytes
            ),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(io_err(path, "read"))?;
    let mut records = Vec::new();
    let mut skipped = 0usize;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v @ Value::Object(_)) => records.push(v),
            _ => skipped += 1,
        }
    }
    Ok(json!({ "records": records, "skipped": skipped }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_dominant_directions() {
        // Points spread 10 along x, 3 along y, ~0 along z.
        let rows: Vec<Vec<f32>> = (0..20)
            .map(|i| {
                let t = i as f32 - 9.5;
                vec![t, 0.3 * t * if i % 2 == 0 { 1.0 } else { -1.0 }, 0.001 * t]
            })
            .collect();
        let (xy, share) = pca2(&rows);
        assert!(share[0] > 0.8 && share[1] > 0.05, "{share:?}");
        assert!(share[0] + share[1] > 0.999, "{share:?}");
        // x is the first component: the coordinates follow t.
        for (i, &(x, _)) in xy.iter().enumerate() {
            let t = i as f32 - 9.5;
            assert!((x.abs() - t.abs()).abs() < 0.05, "{i}: {x} vs {t}");
        }
        assert_eq!(pca2(&[]).0.len(), 0);
        assert_eq!(pca2(&[vec![1.0, 2.0]]).0, vec![(0.0, 0.0)]);
    }

    #[test]
    fn a_huge_idle_timeout_is_clamped_not_overflowed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
            let mut conn = Idle::new((), Duration::MAX, permit);
            assert_eq!(conn.idle, MAX_IDLE);
            // Restarting the clock adds the idle time to now: no overflow.
            conn.active();
            assert!(conn.deadline.deadline() > tokio::time::Instant::now() + MAX_IDLE / 2);
        });
    }

    #[test]
    fn non_loopback_needs_public() {
        assert!(check_addr("127.0.0.1:0".parse().unwrap(), false).is_ok());
        assert!(check_addr("[::1]:0".parse().unwrap(), false).is_ok());
        assert!(check_addr("0.0.0.0:80".parse().unwrap(), false).is_err());
        assert!(check_addr("0.0.0.0:80".parse().unwrap(), true).is_ok());
    }

    #[test]
    fn log_lines_pass_through_and_bad_ones_are_counted() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(crate::model::TRAIN_LOG);
        assert_eq!(
            read_log(&p, 1 << 20).unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        std::fs::write(
            &p,
            "{\"kind\":\"block\",\"loss\":0.4}\nnot json\n[1]\n\n{\"kind\":\"end\"}\n",
        )
        .unwrap();
        let v = read_log(&p, 1 << 20).unwrap();
        assert_eq!(v["records"].as_array().unwrap().len(), 2);
        assert_eq!(v["skipped"], 2);
        assert_eq!(
            read_log(&p, 10).unwrap_err().status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}

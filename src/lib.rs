//! `w2v`: a word2vec trainer (skip-gram, negative sampling) built for Russian.
//!
//! One module per pipeline stage; each owns one on-disk format:
//! [`synth`] → [`prep`] (via [`corpus`] readers and [`normalize`]) →
//! [`vocab`] + [`unigram`] + [`ids`] + [`pairs`] (via [`shards`]) → [`train`] →
//! [`model`] (the model directory, via [`embeddings`]) → [`query`],
//! [`eval`], [`export`], [`report`] (plots of the training log). [`preflight`] checks disk and memory before a
//! stage starts work.
pub mod corpus;
pub mod doctor;
pub mod embeddings;
pub mod encoding;
pub mod error;
pub mod eval;
pub mod export;
pub mod hogwild;
pub mod ids;
pub mod manifest;
pub mod model;
pub mod normalize;
pub mod pairs;
pub mod parallel;
mod parquet_guard;
pub mod preflight;
pub mod prep;
pub mod progress;
pub mod query;
pub mod report;
pub mod rng;
pub mod serve;
pub mod shards;
pub mod signals;
pub mod simd;
pub mod subword;
pub mod synth;
pub mod train;
pub mod unigram;
pub mod vocab;

pub use error::{Error, Result};

/// A vocabulary id. Ids cross every module boundary as `i32`, the type the
/// shards and libtorch index tensors use.
pub type TokenId = i32;

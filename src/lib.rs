//! `w2v`: a word2vec trainer (skip-gram, negative sampling) built for Russian.
//!
//! One module per pipeline stage; each owns one on-disk format:
//! [`synth`] → [`prep`] (via [`corpus`] readers and [`normalize`]) →
//! [`vocab`] + [`unigram`] + [`pairs`] (via [`shards`]) → [`train`] →
//! [`embeddings`] → [`query`], [`eval`], [`export`].
pub mod corpus;
pub mod error;
pub mod manifest;
pub mod normalize;
pub mod prep;
pub mod progress;
pub mod rng;
pub mod synth;

pub use error::{Error, Result};

/// A vocabulary id. Ids cross every module boundary as `i32`, the type the
/// shards and libtorch index tensors use.
pub type TokenId = i32;

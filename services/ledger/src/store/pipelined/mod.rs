//! A batch on PostgreSQL in two flights (`kit::pipelined`): its reads
//! (BEGIN, the locks and everything read under them), then its writes and
//! COMMIT. The committer keeps its own connection for this, and sends a
//! batch's reads behind the last batch's COMMIT when it can
//! (`batch::Batch`): one round trip per batch instead of two.

mod decode;
mod read;
mod sql;
mod write;

use questline_kit::pipelined;

pub use read::{Batch, Locked};
use sql::Sql;

use questline_kit::pipelined::{Answers, Flight, Param, Sent};

/// The committer's connection.
pub type Link = pipelined::Link<Sql>;
/// An open connection of the committer's.
pub type Session = pipelined::Session<Sql>;

//! What several test files share.

pub mod real;
pub mod serve;

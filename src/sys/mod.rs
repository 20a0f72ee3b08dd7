//! Small kernel helpers shared by the backends.

pub mod netns;

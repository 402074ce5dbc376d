//! Boards: how a machine's parts are put together and where they sit.

pub mod virt;

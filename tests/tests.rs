//! The integration tests: one test binary, so the harness in `support/` compiles once.
//!
//! Each module tests one command or concern against real components (see `support/README.md`).

mod support;

mod attached;
mod blob;
mod build_push;
mod bundle;
mod cli;
mod cosign_flags;
mod harness;
mod image;
mod json_shapes;
mod keyless;
mod keys;
mod policy;
mod registry;
mod resolve;
mod rotate;
mod secrets;
mod sign;
mod sign_common;
mod sign_concurrent;
mod sign_faults;
mod token_reuse;
mod verify;
mod verify_keyless;
mod workflows;

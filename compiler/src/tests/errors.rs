//! Errors: one line, with the offset; never a panic.

//! The socket calls through guest memory, over a loopback stack.

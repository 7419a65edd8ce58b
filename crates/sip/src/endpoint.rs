//! Endpoint — being written.

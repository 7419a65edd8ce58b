//! SDP offer/answer (RFC 3264) — being written.

//! N-API binding (work in progress).

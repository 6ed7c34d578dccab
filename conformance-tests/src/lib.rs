//! Backend Interfaces conformance suite.

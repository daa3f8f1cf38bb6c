//! Table tests for compilation and route matching.

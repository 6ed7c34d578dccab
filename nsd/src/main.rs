//! nsd binary

fn main() {}

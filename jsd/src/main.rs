//! jsd binary

fn main() {}

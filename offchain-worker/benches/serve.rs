//! Gateway benchmark (filled in below).

fn main() {}

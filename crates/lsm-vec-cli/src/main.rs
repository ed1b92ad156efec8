fn main() { println!("lsm-vec CLI: under construction"); }
